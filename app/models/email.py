"""The per-e-mail ledger: one ``sent_emails`` row per recipient, its attempts and events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, enum_column, utcnow
from app.models.enums import EmailKind, EmailStatus, Outcome


class SentEmail(db.Model):
    __tablename__ = "sent_emails"
    __table_args__ = (
        # Fan-out relies on this: re-running it can never add a second row per recipient.
        sa.UniqueConstraint("campaign_id", "subscriber_id"),
        # Keyset pagination of the send log, newest first, with each filter.
        sa.Index("ix_sent_emails_account_id", "account_id", "id"),
        sa.Index("ix_sent_emails_account_status", "account_id", "status", "id"),
        sa.Index("ix_sent_emails_account_recipient", "account_id", "recipient", "id"),
        # Claims and per-campaign counts, and the send log filtered by campaign.
        sa.Index("ix_sent_emails_campaign_status", "campaign_id", "status", "id"),
        sa.Index("ix_sent_emails_campaign_id", "campaign_id", "id"),
        sa.Index("ix_sent_emails_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id"))
    subscriber_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subscribers.id"))
    recipient: Mapped[str] = mapped_column(sa.String(254))
    kind: Mapped[EmailKind] = mapped_column(enum_column(EmailKind, "email_kind"), default=EmailKind.CAMPAIGN)
    status: Mapped[EmailStatus] = mapped_column(enum_column(EmailStatus, "email_status"), default=EmailStatus.QUEUED)
    reason: Mapped[str | None] = mapped_column(sa.String(1024))
    # Fixed when the row is created and used for every attempt.
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(sa.String(32))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    attempts: Mapped[list[DeliveryAttempt]] = relationship(order_by="DeliveryAttempt.id", back_populates="email")
    stored_events: Mapped[list[EmailEvent]] = relationship(order_by="EmailEvent.id")

    @property
    def events(self) -> list[TimelineEvent | EmailEvent]:
        """The timeline, oldest first: the row's creation (``queued``), then every stored event.

        ``queued`` is not stored: the row's ``created_at`` says it, and fan-out writes one row
        per recipient instead of two.
        """
        detail = "" if self.kind == EmailKind.CAMPAIGN else self.kind.value
        return [TimelineEvent("queued", self.created_at, detail), *self.stored_events]


@dataclass(frozen=True)
class TimelineEvent:
    """An event derived rather than stored (only ``queued``, from ``sent_emails.created_at``)."""

    type: str
    at: datetime
    detail: str = ""


class DeliveryAttempt(db.Model):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(sa.ForeignKey("sent_emails.id"), index=True)
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    provider: Mapped[str] = mapped_column(sa.String(100))
    host: Mapped[str] = mapped_column(sa.String(255))
    smtp_code: Mapped[int | None]
    enhanced_code: Mapped[str | None] = mapped_column(sa.String(16))
    # Server text, cut to 1 KB: it comes from outside and must not grow without bound.
    response: Mapped[str] = mapped_column(sa.String(1024), default="")
    outcome: Mapped[Outcome] = mapped_column(enum_column(Outcome, "attempt_outcome"))
    duration_ms: Mapped[int] = mapped_column(default=0)

    email: Mapped[SentEmail] = relationship(back_populates="attempts")


class EmailEvent(db.Model):
    """One line of an e-mail's timeline, written in the same transaction as the change."""

    __tablename__ = "email_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_id: Mapped[int] = mapped_column(sa.ForeignKey("sent_emails.id"), index=True)
    type: Mapped[str] = mapped_column(sa.String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[str] = mapped_column(sa.String(1024), default="")
