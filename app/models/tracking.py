"""Open and click tracking: each campaign's tracked links, and the opens and clicks recorded.

A tracked e-mail links to ``/t/c/<token>`` instead of its target: the token names a
``tracked_links`` row and the e-mail, never the URL, so a tracked link cannot be turned into a
redirect to anywhere else. Each open and click is stored with whether a machine made it (a
known bot, a link scanner, a mail provider's proxy) and why, so people and machines are counted
apart. No full IP address is stored: ``ip_prefix`` is the network (IPv4 /24, IPv6 /48).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime


class TrackedLink(db.Model):
    """One distinct http(s) URL of a campaign's body, stored once; ``position`` is its order of appearance."""

    __tablename__ = "tracked_links"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "position"),
        sa.UniqueConstraint("campaign_id", "url"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"))
    position: Mapped[int]
    url: Mapped[str] = mapped_column(sa.String(2048))


class EmailOpen(db.Model):
    __tablename__ = "email_opens"
    __table_args__ = (
        # Totals and uniques per campaign, people and machines apart, read from the index alone.
        sa.Index("ix_email_opens_campaign_machine", "campaign_id", "machine", "email_id"),
        sa.Index("ix_email_opens_campaign_at", "campaign_id", "at"),
        sa.Index("ix_email_opens_email_id", "email_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(sa.ForeignKey("sent_emails.id"))
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    machine: Mapped[bool]
    # Why a machine: bot, scanner, head, apple_proxy (app/tracking/machine.py); null for a person.
    reason: Mapped[str | None] = mapped_column(sa.String(20))
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")
    ip_prefix: Mapped[str] = mapped_column(sa.String(45), default="")


class EmailClick(db.Model):
    __tablename__ = "email_clicks"
    __table_args__ = (
        # The per-link table and the campaign's totals and uniques.
        sa.Index("ix_email_clicks_campaign_link", "campaign_id", "link_id", "machine", "email_id"),
        sa.Index("ix_email_clicks_campaign_at", "campaign_id", "at"),
        # A message's clicks close together (a scanner following every link).
        sa.Index("ix_email_clicks_email_at", "email_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(sa.ForeignKey("sent_emails.id"))
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"))
    link_id: Mapped[int] = mapped_column(sa.ForeignKey("tracked_links.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    machine: Mapped[bool]
    # bot, scanner, head, too_fast, burst (app/tracking/machine.py); null for a person.
    reason: Mapped[str | None] = mapped_column(sa.String(20))
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")
    ip_prefix: Mapped[str] = mapped_column(sa.String(45), default="")
