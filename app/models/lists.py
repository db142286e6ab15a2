"""Mailing lists and their subscribers."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, enum_column, utcnow
from app.models.enums import SubscriberStatus


class MailingList(db.Model):
    __tablename__ = "mailing_lists"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    double_opt_in: Mapped[bool] = mapped_column(default=True)
    # Privacy: off, no campaign to this list has its opens or clicks tracked.
    tracking: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscriber(db.Model):
    __tablename__ = "subscribers"
    __table_args__ = (
        sa.UniqueConstraint("list_id", "email"),
        sa.Index("ix_subscribers_list_status", "list_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    # Normalised (domain lower-cased, as email-validator returns it); unique per list.
    email: Mapped[str] = mapped_column(sa.String(254))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[SubscriberStatus] = mapped_column(
        enum_column(SubscriberStatus, "subscriber_status"), default=SubscriberStatus.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A confirm link carries this nonce; confirming clears it, so each link works once.
    confirm_nonce: Mapped[str | None] = mapped_column(sa.String(32))
    confirm_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Custom attributes for campaign personalisation (``{{ subscriber.attributes.plan }}``): a
    # flat JSON object of names to strings, numbers, booleans or nulls (app/services/personalise.py).
    attributes: Mapped[dict] = mapped_column(sa.JSON, default=dict, server_default=sa.text("'{}'"))

    mailing_list: Mapped[MailingList] = relationship()
