"""The audit log: who did what security-relevant thing, when, and from where.

One row per event (a login, a failed login, a token made or revoked, a role changed, a
suppression lifted, an export taken, ...). Rows are only ever added. ``account_id`` is empty for
events that belong to no account, such as a failed login for an address nobody has.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    # Who acted: kept as the address at the time, so the row still reads after a user is renamed.
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(sa.String(254), default="")
    action: Mapped[str] = mapped_column(sa.String(64))
    # What it was done to, in words ("user bob@example.com", "token pr_1a2b…", "list 7").
    target: Mapped[str] = mapped_column(sa.String(300), default="")
    detail: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
