"""Which SMTP provider an account's next messages go through, and how much each sent today.

``choose`` takes the account's enabled providers by priority (lower first) and, within one
priority, picks by weight at random. It skips a provider whose breaker is open or whose daily
cap (the warm-up schedule's while warming up) is reached; a half-open provider gets its one
probe before its healthy siblings, so a recovered relay takes its traffic back. Weight 0 is a
standby: it is picked only when its siblings are blocked. An account
with no enabled provider sends through the instance default (``SMTP_URL``). When every provider
is blocked ``choose`` answers None and the caller defers the mail.

Redis keys this module owns:

- ``postroom:provider:<id>:sent:<yyyymmdd>``: messages sent through a provider that UTC day
  (``default`` for the instance default); expires after two days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.delivery import breaker
from app.delivery.settings import EngineSettings
from app.models import Provider

COUNTER_TTL = 2 * 86400


@dataclass(frozen=True)
class Choice:
    """A provider to send through: ``provider_id`` None is the instance default."""

    name: str
    provider_id: int | None
    smtp_url: str = field(repr=False)  # carries the password: never in logs
    max_per_second: float | None = None
    cap_today: int | None = None
    probe: bool = False

    @property
    def breaker_name(self) -> str:
        return breaker.provider_name(self.provider_id)


@dataclass(frozen=True)
class Warmup:
    """Where a provider is in its warm-up: ``day`` (1-based) of ``days``, and today's cap."""

    day: int
    days: int
    cap: int


def _aware(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def warmup_day(provider: Provider, now: datetime | None = None) -> Warmup | None:
    """Today's place in the warm-up schedule, or None when not warming up (any more)."""
    schedule = provider.warmup
    if not schedule or provider.warmup_started_at is None:
        return None
    elapsed = (_aware(now).astimezone(UTC).date() - provider.warmup_started_at.astimezone(UTC).date()).days
    index = max(0, elapsed)
    if index >= len(schedule):
        return None
    cap = schedule[index] if provider.daily_cap is None else min(schedule[index], provider.daily_cap)
    return Warmup(index + 1, len(schedule), cap)


def today_cap(provider: Provider, now: datetime | None = None) -> int | None:
    """How many messages the provider may send today (UTC); None for no limit."""
    warming = warmup_day(provider, now)
    return warming.cap if warming else provider.daily_cap


def counter_key(provider_id: int | None, day: date) -> str:
    return f"postroom:provider:{'default' if provider_id is None else provider_id}:sent:{day:%Y%m%d}"


def sent_today(conn: redis.Redis, provider_ids: list[int | None], now: datetime | None = None) -> dict:
    """Messages sent today through each provider, {id: count}, in one round trip."""
    day = _aware(now).astimezone(UTC).date()
    values = conn.mget([counter_key(pid, day) for pid in provider_ids]) if provider_ids else []
    return {pid: int(value or 0) for pid, value in zip(provider_ids, values, strict=True)}


def record_sent(conn: redis.Redis, choice: Choice, now: datetime | None = None, n: int = 1) -> int:
    """Count ``n`` messages sent through ``choice`` today; answer today's total."""
    key = counter_key(choice.provider_id, _aware(now).astimezone(UTC).date())
    pipe = conn.pipeline()
    pipe.incrby(key, n)
    pipe.expire(key, COUNTER_TTL)
    return int(pipe.execute()[0])


def enabled_providers(session: Session, account_id: int) -> list[Provider]:
    stmt = (
        sa.select(Provider)
        .where(Provider.account_id == account_id, Provider.enabled.is_(True))
        .order_by(Provider.priority, Provider.id)
    )
    return list(session.scalars(stmt))


def choose(
    session: Session,
    conn: redis.Redis,
    account_id: int,
    default_settings: EngineSettings,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> Choice | None:
    """The provider for the account's next message, or None when every one is blocked."""
    now = _aware(now)
    clock = now.timestamp()
    rows = enabled_providers(session, account_id)
    if not rows:
        default = Choice(default_settings.provider_name, None, default_settings.smtp_url)
        return _admit(conn, default, clock)
    counts = sent_today(conn, [p.id for p in rows], now)
    states = {s.name: s.state for s in breaker.snapshots(conn, [breaker.provider_name(p.id) for p in rows], clock)}
    for priority in sorted({p.priority for p in rows}):
        ready, waking = [], []
        for provider in (p for p in rows if p.priority == priority):
            cap = today_cap(provider, now)
            if cap is not None and counts[provider.id] >= cap:
                continue
            state = states[breaker.provider_name(provider.id)]
            if state == breaker.CLOSED:
                ready.append((provider, cap))
            elif state == breaker.HALF_OPEN:
                waking.append((provider, cap))
        for provider, cap in waking:
            if breaker.provider_breaker(conn, provider.id).allow(clock):
                return _choice(provider, cap, probe=True)
        if ready:
            provider, cap = _weighted(ready, rng or random)
            return _choice(provider, cap)
    return None


def _admit(conn: redis.Redis, choice: Choice, clock: float) -> Choice | None:
    """The instance default, unless its breaker is open (or its half-open probe is taken)."""
    gate = breaker.provider_breaker(conn, None)
    state = gate.state(clock)
    if state == breaker.CLOSED:
        return choice
    if state == breaker.HALF_OPEN and gate.allow(clock):
        return Choice(choice.name, None, choice.smtp_url, probe=True)
    return None


def _weighted(candidates: list[tuple[Provider, int | None]], rng) -> tuple[Provider, int | None]:
    weights = [max(0, provider.weight) for provider, _ in candidates]
    if not any(weights):  # all on standby (weight 0): share evenly rather than send nothing
        weights = [1] * len(candidates)
    return rng.choices(candidates, weights=weights, k=1)[0]


def _choice(provider: Provider, cap: int | None, probe: bool = False) -> Choice:
    return Choice(provider.name, provider.id, provider.smtp_url, provider.max_per_second, cap, probe)
