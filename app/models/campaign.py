"""Campaigns: one message to every eligible subscriber of one list."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, enum_column, utcnow
from app.models.enums import BodyFormat, CampaignStatus
from app.models.lists import MailingList


class Campaign(db.Model):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("mailing_lists.id"))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    subject: Mapped[str] = mapped_column(sa.String(998))
    from_name: Mapped[str] = mapped_column(sa.String(200), default="")
    from_email: Mapped[str] = mapped_column(sa.String(254))
    body_format: Mapped[BodyFormat] = mapped_column(enum_column(BodyFormat, "body_format"), default=BodyFormat.MARKDOWN)
    # The source as written, and the two parts rendered from it when the campaign is saved.
    body: Mapped[str] = mapped_column(sa.Text, default="")
    html: Mapped[str] = mapped_column(sa.Text, default="")
    text: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[CampaignStatus] = mapped_column(
        enum_column(CampaignStatus, "campaign_status"), default=CampaignStatus.DRAFT
    )
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set in the fan-out transaction: until then the campaign has no rows and cannot finish.
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Privacy: copied from the list when the campaign is created; the list's own setting still
    # has to be on for either to apply (app/tracking/plan.py).
    track_opens: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    track_clicks: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    mailing_list: Mapped[MailingList] = relationship()
