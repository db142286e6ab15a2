"""Reading the campaign counters the database keeps (app/models/campaign_counts.py).

``statuses`` answers a campaign's counts per status without reading its ``sent_emails`` rows:
it adds up a handful of counter rows (one per status, per database connection that wrote on
PostgreSQL), so a campaign page costs the same for ten recipients and for a million.
``recount`` counts the rows themselves, the slow way: tests and ``rebuild`` compare with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa

from app.extensions import db
from app.models import CampaignActivity, CampaignStatusCount, EmailStatus, SentEmail
from app.services import emails


def statuses(campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """For each campaign: every status with its count (0 when none), plus ``total``."""
    ids = list(campaign_ids)
    result = {cid: dict.fromkeys((s.value for s in EmailStatus), 0) for cid in ids}
    if ids:
        rows = db.session.execute(
            sa.select(CampaignStatusCount.campaign_id, CampaignStatusCount.status, sa.func.sum(CampaignStatusCount.n))
            .where(CampaignStatusCount.campaign_id.in_(ids))
            .group_by(CampaignStatusCount.campaign_id, CampaignStatusCount.status)
        )
        for campaign_id, status, n in rows:
            result[campaign_id][status] = int(n)
    for counts in result.values():
        counts["total"] = sum(counts.values())
    return result


def activity(campaign_id: int, first_minute: int, last_minute: int) -> list[tuple[int, int, int]]:
    """(minute, delivered, bounced) of each minute with activity in the range, oldest first."""
    rows = db.session.execute(
        sa.select(
            CampaignActivity.minute, sa.func.sum(CampaignActivity.delivered), sa.func.sum(CampaignActivity.bounced)
        )
        .where(
            CampaignActivity.campaign_id == campaign_id,
            CampaignActivity.minute >= first_minute,
            CampaignActivity.minute <= last_minute,
        )
        .group_by(CampaignActivity.minute)
        .order_by(CampaignActivity.minute)
    )
    return [(int(m), int(d), int(b)) for m, d, b in rows]


def last_minute(campaign_id: int) -> int | None:
    """The last minute in which one of the campaign's e-mails was delivered or bounced."""
    return db.session.scalar(
        sa.select(sa.func.max(CampaignActivity.minute)).where(CampaignActivity.campaign_id == campaign_id)
    )


def recount(campaign_id: int) -> dict[str, int]:
    """The campaign's counts per status read from its rows (what ``statuses`` must equal)."""
    counts = {status.value: n for status, n in emails.count_by_status(SentEmail.campaign_id == campaign_id).items()}
    counts["total"] = sum(counts.values())
    return counts


def disagreements() -> dict[int, tuple[dict, dict]]:
    """Every campaign whose counters differ from its rows: {id: (counters, rows)}. Empty is healthy."""
    totals: dict[int, dict[str, int]] = defaultdict(dict)
    for campaign_id, status, n in db.session.execute(
        sa.select(SentEmail.campaign_id, SentEmail.status, sa.func.count())
        .where(SentEmail.campaign_id.is_not(None))
        .group_by(SentEmail.campaign_id, SentEmail.status)
    ):
        totals[campaign_id][EmailStatus(status).value] = n
    kept: dict[int, dict[str, int]] = defaultdict(dict)
    for campaign_id, status, n in db.session.execute(
        sa.select(
            CampaignStatusCount.campaign_id, CampaignStatusCount.status, sa.func.sum(CampaignStatusCount.n)
        ).group_by(CampaignStatusCount.campaign_id, CampaignStatusCount.status)
    ):
        if n:
            kept[campaign_id][status] = int(n)
    return {
        cid: (kept.get(cid, {}), totals.get(cid, {}))
        for cid in set(totals) | set(kept)
        if kept.get(cid, {}) != totals.get(cid, {})
    }


def rebuild(campaign_id: int) -> None:
    """Count the campaign again from its rows, replacing its counters; commits.

    For repair only (``flask campaigns recount --fix``), after rows were deleted by hand. On
    PostgreSQL writers to ``sent_emails`` wait while it runs, so no change falls between the
    count and the commit; SQLite has one writer anyway.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("LOCK TABLE sent_emails IN SHARE ROW EXCLUSIVE MODE"))
    db.session.execute(sa.delete(CampaignStatusCount).where(CampaignStatusCount.campaign_id == campaign_id))
    db.session.execute(sa.delete(CampaignActivity).where(CampaignActivity.campaign_id == campaign_id))
    for status, n in recount(campaign_id).items():
        if status != "total" and n:
            db.session.add(CampaignStatusCount(campaign_id=campaign_id, status=status, shard=0, n=n))
    minutes: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    rows = db.session.execute(
        sa.select(SentEmail.sent_at, SentEmail.status, SentEmail.updated_at).where(
            SentEmail.campaign_id == campaign_id, sa.or_(SentEmail.sent_at.is_not(None), SentEmail.status == "bounced")
        )
    )
    for sent_at, status, updated_at in rows:
        if sent_at is not None:
            minutes[int(sent_at.timestamp()) // 60][0] += 1
        if status == EmailStatus.BOUNCED:
            minutes[int(updated_at.timestamp()) // 60][1] += 1
    for minute, (delivered, bounced) in minutes.items():
        db.session.add(
            CampaignActivity(campaign_id=campaign_id, minute=minute, shard=0, delivered=delivered, bounced=bounced)
        )
    db.session.commit()
