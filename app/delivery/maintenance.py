"""The periodic sweep that rediscovers work whose job vanished.

It re-queues rows whose lease expired (worker killed) and deferred rows whose retry time came,
and reports what needs a job: campaigns never fanned out, campaigns and single e-mails with
queued rows, and campaigns that may now be finished. It never sends anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery.ledger import transition
from app.models import Campaign, CampaignStatus, EmailStatus, SentEmail
from app.models.base import utcnow

_CHUNK = 1000


@dataclass
class SweepReport:
    requeued: int = 0
    fan_out: list[int] = field(default_factory=list)
    # Sending campaigns with queued rows (need a delivery job) and without (may be finished).
    campaigns: list[int] = field(default_factory=list)
    idle_campaigns: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    emails: list[int] = field(default_factory=list)


def _requeue(session: Session, condition, event: str, now: datetime) -> int:
    total = 0
    while True:
        ids = list(session.execute(sa.select(SentEmail.id).where(condition).limit(_CHUNK)).scalars())
        if not ids:
            return total
        moved = transition(
            session,
            ids,
            EmailStatus.QUEUED,
            event,
            values={"lease_token": None, "lease_expires_at": None},
            now=now,
        )
        session.commit()
        total += len(moved)
        if len(ids) < _CHUNK:
            return total


def prune(session: Session, older_than: datetime, chunk: int = 5000) -> int:
    """Delete attempts and events of terminal e-mails last changed before ``older_than``.

    The ``sent_emails`` row itself stays (status, reason, Message-ID): the ledger keeps its
    answer to "was this sent?", only the detail goes. Chunked so no transaction grows large.
    """
    from app.models import DeliveryAttempt, EmailEvent
    from app.models.enums import TERMINAL_EMAIL_STATUSES

    terminal = [s.value for s in TERMINAL_EMAIL_STATUSES]
    total = 0
    while True:
        ids = list(
            session.execute(
                sa.select(SentEmail.id)
                .where(SentEmail.updated_at < older_than, SentEmail.status.in_(terminal))
                .where(
                    sa.or_(
                        sa.exists().where(EmailEvent.email_id == SentEmail.id),
                        sa.exists().where(DeliveryAttempt.email_id == SentEmail.id),
                    )
                )
                .limit(chunk)
            ).scalars()
        )
        if not ids:
            return total
        total += session.execute(sa.delete(DeliveryAttempt).where(DeliveryAttempt.email_id.in_(ids))).rowcount
        total += session.execute(sa.delete(EmailEvent).where(EmailEvent.email_id.in_(ids))).rowcount
        session.commit()


def sweep(session: Session, now: datetime | None = None) -> SweepReport:
    now = now or utcnow()
    report = SweepReport()
    report.requeued += _requeue(
        session,
        sa.and_(SentEmail.status == EmailStatus.SENDING, SentEmail.lease_expires_at < now),
        "lease_expired",
        now,
    )
    report.requeued += _requeue(
        session,
        sa.and_(SentEmail.status == EmailStatus.DEFERRED, SentEmail.next_attempt_at <= now),
        "retry",
        now,
    )
    sending = sa.select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING)
    report.fan_out = list(session.execute(sending.where(Campaign.fanned_out_at.is_(None))).scalars())
    report.campaigns = list(session.execute(sending.where(Campaign.fanned_out_at.is_not(None))).scalars())
    # Rows of cancelled campaigns that were in flight and came back (lease expired).
    report.cancelled = list(
        session.execute(
            sa.select(SentEmail.campaign_id)
            .join(Campaign, Campaign.id == SentEmail.campaign_id)
            .where(
                Campaign.status == CampaignStatus.CANCELLED,
                SentEmail.status.in_([EmailStatus.QUEUED, EmailStatus.DEFERRED]),
            )
            .distinct()
        ).scalars()
    )
    report.emails = list(
        session.execute(
            sa.select(SentEmail.id)
            .where(SentEmail.campaign_id.is_(None), SentEmail.status == EmailStatus.QUEUED)
            .limit(_CHUNK)
        ).scalars()
    )
    session.commit()
    return report
