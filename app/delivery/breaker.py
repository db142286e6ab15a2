"""Circuit breakers shared by every worker through Redis, one per recipient domain and per provider.

A breaker is **closed** (mail flows) until ``threshold`` failures land within ``window`` seconds
with no success in between; it is then **open**: ``allow`` answers False and the caller defers
the mail without connecting. Once ``cooldown`` seconds have passed it is **half-open**: ``allow``
lets exactly one probe through across all workers (``SET NX``, held for one cool-down in case
the prober dies); a success closes the breaker, a failure opens it for another cool-down.

Only failures that say something about the destination count (``is_breaker_failure``): no reply
at all, a 421, or an RFC 3463 network (x.4.x) or policy (x.7.x) code. A full mailbox or an unknown
user says nothing about the domain. Every update is one Lua script, so concurrent workers never
lose a failure or open a breaker twice. Time comes from the Redis server unless ``now`` is given.

At worker start ``rebuild_from_attempts`` re-opens the breakers that recent ``delivery_attempts``
show were failing, so a restart does not hammer a domain that was down.

Redis keys this module owns (``<name>`` is ``domain:<domain>``, ``provider:<id>`` or
``provider:default``):

- ``postroom:breaker:<name>:failures``: sorted set of failure times; expires after ``window``.
- ``postroom:breaker:<name>:open``: when the breaker (last) opened, epoch seconds; present
  while open or half-open; expires after ``OPEN_TTL`` (an idle breaker closes by itself).
- ``postroom:breaker:<name>:probe``: held by the one half-open probe; expires after ``cooldown``.
- ``postroom:breakers``: set of the names that may have state, for the status page.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models import DeliveryAttempt, Outcome, Provider, SentEmail

PREFIX = "postroom:breaker:"
REGISTRY = "postroom:breakers"
THRESHOLD = 10
WINDOW = 60.0
COOLDOWN = 60.0
OPEN_TTL = 86400
DEFAULT_PROVIDER = "provider:default"
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
REFUSED, PASS, PROBE = 0, 1, 2  # the answers of Breaker.admit

# KEYS: failures, open, probe, registry. ARGV: now, window, threshold, member, open_ttl, name, cooldown.
_RECORD_FAILURE = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local window, threshold, cooldown = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[7])
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.17g', now - window))
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
redis.call('SADD', KEYS[4], ARGV[6])
local opened = tonumber(redis.call('GET', KEYS[2]))
if opened ~= nil then
  if now >= opened + cooldown then
    -- half-open: the probe (or a late straggler) failed, so wait another cool-down
    redis.call('SET', KEYS[2], string.format('%.17g', now), 'EX', tonumber(ARGV[5]))
    redis.call('DEL', KEYS[3])
  end
  return 'open'
end
if redis.call('ZCARD', KEYS[1]) >= threshold then
  redis.call('SET', KEYS[2], string.format('%.17g', now), 'EX', tonumber(ARGV[5]))
  redis.call('DEL', KEYS[3])
  return 'open'
end
return 'closed'
"""

# KEYS: open, probe. ARGV: now, cooldown. Answers 0 (refused), 1 (closed), 2 (the probe).
_ALLOW = """
local opened = tonumber(redis.call('GET', KEYS[1]))
if opened == nil then return 1 end
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local cooldown = tonumber(ARGV[2])
if now < opened + cooldown then return 0 end
if redis.call('SET', KEYS[2], string.format('%.17g', now), 'NX', 'EX', math.ceil(cooldown)) then return 2 end
return 0
"""

# KEYS: open, registry. ARGV: at, open_ttl, name. Opens only a breaker that is not open yet.
_TRIP = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', tonumber(ARGV[2])) then
  redis.call('SADD', KEYS[2], ARGV[3])
  return 1
end
return 0
"""


def _now_arg(now: float | None) -> str:
    return "" if now is None else repr(float(now))


def _server_now(conn: redis.Redis) -> float:
    seconds, micros = conn.time()
    return seconds + micros / 1_000_000


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class BreakerState:
    """One breaker as the status page shows it."""

    name: str
    state: str
    failures: int
    opened_at: float | None
    retry_at: float | None
    probing: bool

    @property
    def kind(self) -> str:
        return self.name.partition(":")[0]

    @property
    def target(self) -> str:
        return self.name.partition(":")[2]


class Breaker:
    """The breaker called ``name``; every worker constructing the same name shares it."""

    def __init__(
        self,
        redis: redis.Redis,
        name: str,
        threshold: int = THRESHOLD,
        window: float = WINDOW,
        cooldown: float = COOLDOWN,
    ):
        if not name:
            raise ValueError(f"a breaker needs a name, got {name!r}")
        if int(threshold) != threshold or threshold < 1:
            raise ValueError(f"threshold must be a whole number of at least 1, got {threshold!r}")
        if not window > 0:
            raise ValueError(f"window must be positive seconds, got {window!r}")
        if not cooldown > 0:
            raise ValueError(f"cooldown must be positive seconds, got {cooldown!r}")
        self.redis, self.name = redis, name
        self.threshold, self.window, self.cooldown = int(threshold), float(window), float(cooldown)
        self.failures_key = f"{PREFIX}{name}:failures"
        self.open_key = f"{PREFIX}{name}:open"
        self.probe_key = f"{PREFIX}{name}:probe"
        self._allow = redis.register_script(_ALLOW)
        self._record_failure = redis.register_script(_RECORD_FAILURE)
        self._trip = redis.register_script(_TRIP)

    def allow(self, now: float | None = None) -> bool:
        """May one message go now? Closed: yes. Open: no. Half-open: yes for one caller only."""
        return self.admit(now) != REFUSED

    def admit(self, now: float | None = None) -> int:
        """Like ``allow``, telling which yes: ``REFUSED``, ``PASS`` (closed) or ``PROBE`` (half-open)."""
        return int(self._allow(keys=[self.open_key, self.probe_key], args=[_now_arg(now), repr(self.cooldown)]))

    def record_success(self) -> None:
        """The destination answered: close the breaker and forget its failures."""
        self.redis.delete(self.failures_key, self.open_key, self.probe_key)

    def record_failure(self, now: float | None = None) -> str:
        """Count one failure; answer the state after it ("closed" or "open")."""
        member = f"{_now_arg(now) or 'now'}:{secrets.token_hex(4)}"
        result = self._record_failure(
            keys=[self.failures_key, self.open_key, self.probe_key, REGISTRY],
            args=[_now_arg(now), repr(self.window), self.threshold, member, OPEN_TTL, self.name, repr(self.cooldown)],
        )
        return _text(result)

    def trip(self, at: float) -> bool:
        """Open the breaker as of ``at`` unless it is open already; answer whether it opened."""
        return bool(self._trip(keys=[self.open_key, REGISTRY], args=[repr(float(at)), OPEN_TTL, self.name]))

    def state(self, now: float | None = None) -> str:
        return self.snapshot(now).state

    def snapshot(self, now: float | None = None) -> BreakerState:
        return snapshots(self.redis, [self.name], now, self.window, self.cooldown)[0]


def snapshots(
    conn: redis.Redis,
    names: list[str] | None = None,
    now: float | None = None,
    window: float = WINDOW,
    cooldown: float = COOLDOWN,
) -> list[BreakerState]:
    """The state of the breakers ``names`` (default: every breaker that has any), sorted by name."""
    now = _server_now(conn) if now is None else now
    listed = names is None
    if listed:
        names = sorted(_text(name) for name in conn.smembers(REGISTRY))
    pipe = conn.pipeline(transaction=False)
    for name in names:
        pipe.get(f"{PREFIX}{name}:open")
        pipe.zcount(f"{PREFIX}{name}:failures", now - window, "+inf")
        pipe.exists(f"{PREFIX}{name}:probe")
    answers = pipe.execute()
    states, gone = [], []
    for i, name in enumerate(names):
        opened, failures, probing = answers[3 * i : 3 * i + 3]
        opened = float(opened) if opened is not None else None
        if opened is None:
            state, retry_at = CLOSED, None
        else:
            retry_at = opened + cooldown
            state = OPEN if now < retry_at else HALF_OPEN
        if listed and opened is None and not failures:
            gone.append(name)
            continue
        states.append(BreakerState(name, state, int(failures), opened, retry_at, bool(probing)))
    if gone:
        conn.srem(REGISTRY, *gone)
    return states


def domain_name(domain: str) -> str:
    return f"domain:{domain.lower().rstrip('.')}"


def provider_name(provider_id: int | None) -> str:
    """``provider:<id>``, or ``provider:default`` for the instance default (``SMTP_URL``)."""
    return DEFAULT_PROVIDER if provider_id is None else f"provider:{provider_id}"


def domain_breaker(conn: redis.Redis, domain: str) -> Breaker:
    return Breaker(conn, domain_name(domain))


def provider_breaker(conn: redis.Redis, provider_id: int | None) -> Breaker:
    return Breaker(conn, provider_name(provider_id))


def is_breaker_failure(outcome: Outcome | str, smtp_code: int | None, enhanced_code: str | None) -> bool:
    """Whether an attempt's result counts against its domain's and provider's breakers.

    Deferred or failed with no reply at all, a 421, or a network (x.4.x) or policy (x.7.x)
    enhanced code. ``_failure_clause`` is the same rule in SQL; keep the two together.
    """
    if Outcome(outcome) not in (Outcome.FAILED, Outcome.DEFERRED):
        return False
    subject = (enhanced_code or "").split(".")[1:2]
    return smtp_code is None or smtp_code == 421 or subject in (["4"], ["7"])


def _failure_clause() -> sa.ColumnElement[bool]:
    attempt = DeliveryAttempt
    return sa.and_(
        attempt.outcome.in_([Outcome.FAILED, Outcome.DEFERRED]),
        sa.or_(
            attempt.smtp_code.is_(None),
            attempt.smtp_code == 421,
            attempt.enhanced_code.like("_.4.%"),
            attempt.enhanced_code.like("_.7.%"),
        ),
    )


def recipient_domain(column, dialect: str) -> sa.ColumnElement[str]:
    """SQL for the lower-cased domain of an address column (the part after the last ``@``)."""
    if dialect == "postgresql":
        return sa.func.lower(sa.func.substring(column, "@([^@]*)$"))
    return sa.func.lower(sa.func.substr(column, sa.func.instr(column, "@") + 1))


def _recent_failures(session: Session, keys: list, since: datetime, threshold: int) -> list:
    """Per ``keys``: failures since ``since`` and after the last success, counted per attempt.

    An attempt is one (email_id, number), however many rows record it. Only groups with at least
    ``threshold`` such failures come back, with the time of the latest one.
    """
    attempt = DeliveryAttempt
    joined = sa.select(*keys).join_from(attempt, SentEmail, attempt.email_id == SentEmail.id)
    fails = (
        joined.add_columns(attempt.email_id, attempt.number, sa.func.max(attempt.started_at).label("at"))
        .where(_failure_clause(), attempt.started_at >= since)
        .group_by(*keys, attempt.email_id, attempt.number)
        .subquery()
    )
    wins = (
        joined.add_columns(sa.func.max(attempt.started_at).label("last_ok"))
        .where(attempt.outcome == Outcome.DELIVERED, attempt.started_at >= since)
        .group_by(*keys)
        .subquery()
    )
    names = [key.name for key in keys]
    stmt = (
        sa.select(*(fails.c[n] for n in names), sa.func.count().label("failures"), sa.func.max(fails.c.at))
        .select_from(fails)
        .outerjoin(wins, sa.and_(*(fails.c[n] == wins.c[n] for n in names)))
        .where(sa.or_(wins.c.last_ok.is_(None), fails.c.at > wins.c.last_ok))
        .group_by(*(fails.c[n] for n in names))
        .having(sa.func.count() >= threshold)
    )
    return list(session.execute(stmt))


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def rebuild_from_attempts(
    session: Session,
    conn: redis.Redis,
    since_seconds: int = 600,
    *,
    default_provider: str | None = None,
    threshold: int = THRESHOLD,
    now: datetime | None = None,
) -> dict[str, int]:
    """Open the breakers recent attempts show failing; answer {breaker name: failures} opened.

    A breaker opens as of its latest failure, so one whose cool-down has already passed comes
    back half-open (one probe). Breakers already open in Redis are left as they are. Attempts
    name their provider; ``default_provider`` is the name the instance default records
    (``EngineSettings.provider_name``).
    """
    now = now or datetime.now(UTC)
    since = now - timedelta(seconds=since_seconds)
    dialect = session.get_bind().dialect.name
    opened: dict[str, int] = {}

    domain = recipient_domain(SentEmail.recipient, dialect).label("domain")
    for name, failures, latest in _recent_failures(session, [domain], since, threshold):
        if name and Breaker(conn, domain_name(name), threshold).trip(_epoch(latest)):
            opened[domain_name(name)] = failures

    # Per account and provider name (names are unique per account), summed per breaker: the
    # instance default serves many accounts under one name and one breaker.
    keys = [SentEmail.account_id.label("account_id"), DeliveryAttempt.provider.label("provider")]
    rows = _recent_failures(session, keys, since, 1)
    ids = {
        (account, label): provider_id
        for provider_id, account, label in session.execute(
            sa.select(Provider.id, Provider.account_id, Provider.name).where(
                Provider.account_id.in_({row.account_id for row in rows} or {-1})
            )
        )
    }
    totals: dict[str, tuple[int, datetime]] = {}
    for account, label, failures, latest in rows:
        if (account, label) in ids:
            name = provider_name(ids[account, label])
        elif default_provider is not None and label == default_provider:
            name = DEFAULT_PROVIDER
        else:
            continue  # a provider deleted or renamed since
        count, last = totals.get(name, (0, latest))
        totals[name] = (count + failures, max(last, latest))
    for name, (failures, latest) in sorted(totals.items()):
        if failures >= threshold and Breaker(conn, name, threshold).trip(_epoch(latest)):
            opened[name] = failures
    return opened


def seconds_until(state: BreakerState, now: float) -> int | None:
    """Whole seconds until an open breaker lets a probe through (None when not open)."""
    if state.state != OPEN or state.retry_at is None:
        return None
    return max(0, math.ceil(state.retry_at - now))
