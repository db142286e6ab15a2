"""The per-account suppression list: addresses no campaign may send to."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, enum_column, utcnow
from app.models.enums import SuppressionReason


class Suppression(db.Model):
    __tablename__ = "suppressions"
    __table_args__ = (sa.UniqueConstraint("account_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    email: Mapped[str] = mapped_column(sa.String(254))
    reason: Mapped[SuppressionReason] = mapped_column(enum_column(SuppressionReason, "suppression_reason"))
    detail: Mapped[str] = mapped_column(sa.String(1024), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
