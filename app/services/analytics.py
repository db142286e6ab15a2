"""Numbers for pictures: a campaign's engagement and activity over time, a list's growth, and
recent delivery health per recipient domain and provider.

Everything is counted in SQL (grouped, never row by row in Python) from indexed columns: opens
and clicks by ``(campaign_id, machine, email_id)`` / ``(campaign_id, link_id, ...)`` and by
``(campaign_id, at)``, e-mails by ``(campaign_id, status)``, attempts by ``started_at``. Time is
cut into buckets of a size chosen from the span shown (minutes for a campaign sent just now,
hours or days later), at most ``MAX_BUCKETS`` of them. Callers scope: each function takes an
object the caller already checked belongs to the account, or the account id itself.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import (
    Campaign,
    CampaignStatus,
    DeliveryAttempt,
    EmailClick,
    EmailOpen,
    MailingList,
    Outcome,
    SentEmail,
    Subscriber,
    TrackedLink,
)
from app.models.base import utcnow
from app.services import campaigns, counters

MAX_BUCKETS = 60
STEPS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)  # seconds
HEALTH_WINDOW = timedelta(hours=1)
HEALTH_ROWS = 10
_LIVE = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED)


@dataclass
class TimeSeries:
    """Counts per bucket: bucket ``i`` covers ``start + i*step`` up to the next."""

    start: datetime
    step: int
    buckets: int
    series: dict[str, list[int]] = field(default_factory=dict)

    @property
    def times(self) -> list[datetime]:
        return [self.start + timedelta(seconds=i * self.step) for i in range(self.buckets)]

    def points(self) -> list[dict]:
        """One dict per bucket: ``at`` and each series' count (the API's shape)."""
        return [
            {"at": at} | {name: values[i] for name, values in self.series.items()} for i, at in enumerate(self.times)
        ]


def _span(start: datetime, end: datetime) -> TimeSeries:
    """Empty buckets covering ``start``..``end`` (``end`` included), aligned on the step; at least
    two, so even a moment's activity is drawn as a line from the bucket before it."""
    seconds = max((end - start).total_seconds(), 1)
    step = next((s for s in STEPS if seconds / s < MAX_BUCKETS), None)
    if step is None:  # whole minutes, so the per-minute delivery counters fall in one bucket each
        step = 60 * -(-int(seconds) // (60 * (MAX_BUCKETS - 1)))
    last = int(end.timestamp()) // step
    first = min(int(start.timestamp()) // step, last - 1)
    return TimeSeries(datetime.fromtimestamp(first * step, UTC), step, last - first + 1)


def _bucket(column, step: int):
    """The bucket number of a timestamp column (seconds since the epoch, divided by ``step``)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.floor(sa.extract("epoch", column) / step), sa.BigInteger)
    return sa.cast(sa.func.strftime("%s", column), sa.Integer) / step


def _fill(series: TimeSeries, name: str, stmt: sa.Select, column) -> None:
    """Add ``name``: counts of ``stmt``'s rows per bucket of ``column`` (``stmt`` filters the rest)."""
    values = [0] * series.buckets
    first = int(series.start.timestamp()) // series.step
    bucket = _bucket(column, series.step)
    end = series.start + timedelta(seconds=series.buckets * series.step)
    rows = db.session.execute(
        stmt.add_columns(bucket.label("bucket"), sa.func.count().label("n"))
        .where(column >= series.start, column < end)
        .group_by(bucket)
    )
    for row in rows:
        index = int(row.bucket) - first
        if 0 <= index < series.buckets:
            values[index] += row.n
    series.series[name] = values


def tracking_enabled(campaign: Campaign) -> dict[str, bool]:
    """What the campaign's messages track: the list's switch and the campaign's together."""
    allowed = campaign.mailing_list.tracking
    return {"opens": allowed and campaign.track_opens, "clicks": allowed and campaign.track_clicks}


def _engagement(model, campaign_id: int) -> dict[str, dict[str, int]]:
    rows = db.session.execute(
        sa.select(model.machine, sa.func.count(), sa.func.count(sa.distinct(model.email_id)))
        .where(model.campaign_id == campaign_id)
        .group_by(model.machine)
    )
    result = {"human": {"total": 0, "unique": 0}, "machine": {"total": 0, "unique": 0}}
    for machine, total, unique in rows:
        result["machine" if machine else "human"] = {"total": total, "unique": unique}
    return result


def links(campaign_id: int) -> list[dict]:
    """The campaign's tracked links in order, each with its clicks by people and by machines."""
    counts: dict[int, dict] = defaultdict(
        lambda: {"human": {"total": 0, "unique": 0}, "machine": {"total": 0, "unique": 0}}
    )
    rows = db.session.execute(
        sa.select(
            EmailClick.link_id, EmailClick.machine, sa.func.count(), sa.func.count(sa.distinct(EmailClick.email_id))
        )
        .where(EmailClick.campaign_id == campaign_id)
        .group_by(EmailClick.link_id, EmailClick.machine)
    )
    for link_id, machine, total, unique in rows:
        counts[link_id]["machine" if machine else "human"] = {"total": total, "unique": unique}
    tracked = db.session.execute(
        sa.select(TrackedLink.id, TrackedLink.position, TrackedLink.url)
        .where(TrackedLink.campaign_id == campaign_id)
        .order_by(TrackedLink.position)
    )
    return [{"id": link.id, "position": link.position, "url": link.url, **counts[link.id]} for link in tracked]


def activity(campaign: Campaign, now: datetime | None = None) -> TimeSeries | None:
    """Deliveries, bounces, opens and clicks (people's and machines') over time; None before sending."""
    now = now or utcnow()
    start = campaign.started_at or campaign.send_at
    if start is None or start > now:
        return None
    end = now if campaign.status in _LIVE else _last_activity(campaign.id) or campaign.finished_at or now
    series = _span(start, max(end, start))
    _fill_deliveries(series, campaign.id)
    for name, model in (("opened", EmailOpen), ("clicked", EmailClick)):
        for machine, prefix in ((False, ""), (True, "machine_")):
            stmt = sa.select().select_from(model).where(model.campaign_id == campaign.id, model.machine == machine)
            _fill(series, prefix + name, stmt, model.at)
    return series


def _fill_deliveries(series: TimeSeries, campaign_id: int) -> None:
    """Add "delivered" (by ``sent_at``) and "bounced" (by the moment of bouncing) from the
    per-minute counters the database keeps, never from the campaign's rows."""
    delivered, bounced = [0] * series.buckets, [0] * series.buckets
    first = int(series.start.timestamp())
    last_minute = (first + series.buckets * series.step) // 60 - 1
    for minute, sent, bounces in counters.activity(campaign_id, first // 60, last_minute):
        index = (minute * 60 - first) // series.step
        if 0 <= index < series.buckets:
            delivered[index] += sent
            bounced[index] += bounces
    series.series["delivered"], series.series["bounced"] = delivered, bounced


def _last_activity(campaign_id: int) -> datetime | None:
    moments = [
        db.session.scalar(sa.select(sa.func.max(model.at)).where(model.campaign_id == campaign_id))
        for model in (EmailOpen, EmailClick)
    ]
    last_minute = counters.last_minute(campaign_id)
    if last_minute is not None:
        moments.append(datetime.fromtimestamp(last_minute * 60 + 59, UTC))
    found = [_aware(m) for m in moments if m is not None]
    return max(found) if found else None


def _aware(moment) -> datetime:
    # Aggregates skip the column type: SQLite hands back text, both hand back naive UTC.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def campaign_report(campaign: Campaign, now: datetime | None = None, statuses: dict | None = None) -> dict:
    """Everything the campaign's analytics show, and the stats API answers.

    ``statuses`` are the campaign's counts by status when the caller has them already.
    """
    statuses = statuses if statuses is not None else campaigns.stats(campaign.id)
    opens, clicks = _engagement(EmailOpen, campaign.id), _engagement(EmailClick, campaign.id)
    delivered = statuses["delivered"]
    series = activity(campaign, now)
    return {
        "campaign_id": campaign.id,
        "status": campaign.status,
        "tracking": tracking_enabled(campaign),
        "statuses": statuses,
        "opens": opens,
        "clicks": clicks,
        "open_rate": opens["human"]["unique"] / delivered if delivered else None,
        "click_rate": clicks["human"]["unique"] / delivered if delivered else None,
        "links": links(campaign.id),
        "timeline": None if series is None else {"step_seconds": series.step, "points": series.points()},
        "series": series,
    }


def list_growth(mailing_list: MailingList, now: datetime | None = None) -> TimeSeries:
    """Subscribers by status over time, rebuilt from ``created_at``, ``confirmed_at`` and
    ``unsubscribed_at``: the status each subscriber had at the end of each bucket."""
    now = now or utcnow()
    people = sa.select().select_from(Subscriber).where(Subscriber.list_id == mailing_list.id)
    oldest = db.session.scalar(people.add_columns(sa.func.min(Subscriber.created_at)))
    series = _span(min(mailing_list.created_at, _aware(oldest)) if oldest else mailing_list.created_at, now)
    # Joins, confirmations, and leaves of people who had (not) confirmed, per bucket.
    _fill(series, "joined", people, Subscriber.created_at)
    _fill(series, "confirmed_in", people, Subscriber.confirmed_at)
    _fill(series, "left_confirmed", people.where(Subscriber.confirmed_at.is_not(None)), Subscriber.unsubscribed_at)
    _fill(series, "left_pending", people.where(Subscriber.confirmed_at.is_(None)), Subscriber.unsubscribed_at)
    before = _before(mailing_list.id, series.start)
    flows = series.series
    result = {"confirmed": [], "pending": [], "unsubscribed": []}
    joined, confirmed, left_confirmed, left_pending = before
    for i in range(series.buckets):
        joined += flows["joined"][i]
        confirmed += flows["confirmed_in"][i]
        left_confirmed += flows["left_confirmed"][i]
        left_pending += flows["left_pending"][i]
        result["confirmed"].append(max(confirmed - left_confirmed, 0))
        result["pending"].append(max(joined - confirmed - left_pending, 0))
        result["unsubscribed"].append(left_confirmed + left_pending)
    series.series = result
    return series


def _before(list_id: int, start: datetime) -> tuple[int, int, int, int]:
    """The same four counts for everything before ``start`` (subscribers imported with older dates)."""

    def count(*where) -> int:
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(Subscriber).where(Subscriber.list_id == list_id, *where)
        )

    return (
        count(Subscriber.created_at < start),
        count(Subscriber.confirmed_at < start),
        count(Subscriber.confirmed_at.is_not(None), Subscriber.unsubscribed_at < start),
        count(Subscriber.confirmed_at.is_(None), Subscriber.unsubscribed_at < start),
    )


def _domain(column):
    if db.session.get_bind().dialect.name == "postgresql":
        return sa.func.lower(sa.func.split_part(column, "@", 2))
    return sa.func.lower(sa.func.substr(column, sa.func.instr(column, "@") + 1))


def delivery_health(account_id: int, now: datetime | None = None) -> dict:
    """Attempt outcomes of the last hour per recipient domain and per provider, busiest first."""
    now = now or utcnow()
    since = now - HEALTH_WINDOW
    attempts = (
        sa.select()
        .select_from(DeliveryAttempt)
        .join(SentEmail, SentEmail.id == DeliveryAttempt.email_id)
        .where(SentEmail.account_id == account_id, DeliveryAttempt.started_at >= since)
    )

    def grouped(key) -> list[dict]:
        rows = db.session.execute(
            attempts.add_columns(key.label("name"), DeliveryAttempt.outcome, sa.func.count()).group_by(
                key, DeliveryAttempt.outcome
            )
        )
        totals: dict[str, dict[str, int]] = defaultdict(lambda: {o.value: 0 for o in Outcome})
        for name, outcome, count in rows:
            totals[name or "?"][Outcome(outcome).value] += count
        ranked = sorted(totals.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        return [
            {"name": name, "counts": counts, "total": sum(counts.values())} for name, counts in ranked[:HEALTH_ROWS]
        ]

    return {
        "since": since,
        "domains": grouped(_domain(SentEmail.recipient)),
        "providers": grouped(DeliveryAttempt.provider),
    }
