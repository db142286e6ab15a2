"""SMTP providers of one account, and the delivery status an account may see.

Providers are scoped like every object: another account's provider is NotFound. A provider's
SMTP URL holds its password; nothing here returns it except the model's ``smtp_url`` itself,
and every error message shows the URL redacted. The status report mixes instance-wide facts
(queue depth, workers) with the account's own (its providers, its failures); circuit breakers
and rate buckets are shared by all accounts, so a domain is shown only to an account with mail
to it, never leaking another tenant's recipients.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
import sqlalchemy as sa
from flask import current_app
from rq import Queue, Worker
from sqlalchemy.exc import IntegrityError

from app.delivery import breaker, ratelimit
from app.delivery import providers as engine
from app.delivery.settings import EngineSettings
from app.delivery.transport import SmtpSettings
from app.extensions import db
from app.models import DeliveryAttempt, EmailStatus, Outcome, Provider, SentEmail
from app.models.base import utcnow
from app.models.provider import PASSWORD_MASK, redact_url
from app.services import validation
from app.services.errors import ValidationFailed
from app.services.scope import owned

MAX_COUNT = 1_000_000_000
MAX_RATE = 100_000.0
MAX_WARMUP_DAYS = 365
RECENT_FAILURES = 20
FIELDS = ("name", "smtp_url", "priority", "weight", "max_per_second", "daily_cap", "warmup", "enabled")


def query(account_id: int, by_priority: bool = False) -> sa.Select:
    """The account's providers: newest first, or in the order ``choose`` tries them."""
    stmt = sa.select(Provider).where(Provider.account_id == account_id)
    if by_priority:
        return stmt.order_by(Provider.priority, Provider.id)
    return stmt.order_by(Provider.id.desc())


def get(account_id: int, provider_id: int) -> Provider:
    return owned(Provider, account_id, provider_id, "provider")


# Validation: one rule per field, shared by create and update.


def _name(account_id: int, value, provider_id: int | None) -> str:
    if not isinstance(value, str):
        raise ValidationFailed("name must be text", "name")
    name = validation.header_text(value, "name", required=True, max_length=100)
    taken = sa.select(Provider.id).where(
        Provider.account_id == account_id, sa.func.lower(Provider.name) == name.lower()
    )
    if provider_id is not None:
        taken = taken.where(Provider.id != provider_id)
    if db.session.scalar(taken.limit(1)) is not None:
        raise ValidationFailed(f"you already have a provider called {name!r}", "name")
    return name


def _smtp_url(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("smtp_url is required, like smtp://user:password@host:587?security=starttls", "smtp_url")
    url = value.strip()
    if len(url) > 1024:
        raise ValidationFailed("smtp_url is longer than 1024 characters", "smtp_url")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ValidationFailed("smtp_url must not contain spaces or control characters", "smtp_url")
    try:
        settings = SmtpSettings.from_url(url)
    except ValueError as exc:
        # The parser quotes the URL it rejects: show it without the password.
        message = str(exc).replace(repr(url), repr(redact_url(url)))
        raise ValidationFailed(f"smtp_url is not valid: {message}", "smtp_url") from None
    if settings.password == PASSWORD_MASK:
        raise ValidationFailed(
            "smtp_url carries the redacted password (***): give the real password, or leave smtp_url out to keep it",
            "smtp_url",
        )
    return url


def _count(value, field: str, *, nullable: bool) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{field} must be a whole number", field)
    if not 0 <= value <= MAX_COUNT:
        raise ValidationFailed(f"{field} must be between 0 and {MAX_COUNT}, got {value}", field)
    return value


def _rate(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationFailed("max_per_second must be a number", "max_per_second")
    if not 0 < value <= MAX_RATE:
        raise ValidationFailed(
            f"max_per_second must be above 0 and at most {MAX_RATE:g} (leave it empty for no limit), got {value}",
            "max_per_second",
        )
    return float(value)


def _warmup(value) -> str | None:
    """A schedule given as "50,100,200" or [50, 100, 200], stored as "50,100,200"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        parts = [part for part in value.replace(";", ",").replace(" ", ",").split(",") if part]
        try:
            days = [int(part) for part in parts]
        except ValueError:
            raise ValidationFailed(
                f"warmup must be daily caps separated by commas, like 50,100,200; got {value[:80]!r}", "warmup"
            ) from None
    elif isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        days = value
    else:
        raise ValidationFailed("warmup must be a list of daily caps or text like 50,100,200", "warmup")
    if not days or any(not 0 < day <= MAX_COUNT for day in days):
        raise ValidationFailed(f"warmup caps must be whole numbers from 1 to {MAX_COUNT}", "warmup")
    if len(days) > MAX_WARMUP_DAYS:
        raise ValidationFailed(f"warmup lasts at most {MAX_WARMUP_DAYS} days, got {len(days)}", "warmup")
    return ",".join(str(day) for day in days)


def _clean(account_id: int, data: dict, provider_id: int | None) -> dict:
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown provider fields: {', '.join(sorted(unknown))}", sorted(unknown)[0])
    rules = {
        "name": lambda v: _name(account_id, v, provider_id),
        "smtp_url": _smtp_url,
        "priority": lambda v: _count(v, "priority", nullable=False),
        "weight": lambda v: _count(v, "weight", nullable=False),
        "max_per_second": _rate,
        "daily_cap": lambda v: _count(v, "daily_cap", nullable=True),
        "warmup": _warmup,
        "enabled": lambda v: bool(v),
    }
    return {key: rules[key](value) for key, value in data.items()}


def _commit(provider: Provider) -> Provider:
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent request took the same name
        db.session.rollback()
        raise ValidationFailed(f"you already have a provider called {provider.name!r}", "name") from None
    return provider


def create(
    account_id: int,
    name: str,
    smtp_url: str,
    *,
    priority: int = 0,
    weight: int = 1,
    max_per_second: float | None = None,
    daily_cap: int | None = None,
    warmup: str | list[int] | None = None,
    enabled: bool = True,
) -> Provider:
    """Add a provider; a warm-up schedule starts today."""
    fields = _clean(
        account_id,
        {
            "name": name,
            "smtp_url": smtp_url,
            "priority": priority,
            "weight": weight,
            "max_per_second": max_per_second,
            "daily_cap": daily_cap,
            "warmup": warmup,
            "enabled": enabled,
        },
        None,
    )
    schedule = fields.pop("warmup")
    provider = Provider(
        account_id=account_id,
        warmup_schedule=schedule,
        warmup_started_at=utcnow() if schedule else None,
        **fields,
    )
    db.session.add(provider)
    return _commit(provider)


def update(account_id: int, provider_id: int, restart_warmup: bool = False, **changes) -> Provider:
    """Change the given fields (None clears a limit); a new or restarted warm-up starts today."""
    provider = get(account_id, provider_id)
    fields = _clean(account_id, changes, provider.id)
    if "warmup" in fields:
        schedule = fields.pop("warmup")
        if schedule and (restart_warmup or not provider.warmup_schedule):
            provider.warmup_started_at = utcnow()
        provider.warmup_schedule = schedule
        if not schedule:
            provider.warmup_started_at = None
    elif restart_warmup and provider.warmup_schedule:
        provider.warmup_started_at = utcnow()
    for key, value in fields.items():
        setattr(provider, key, value)
    return _commit(provider)


def delete(account_id: int, provider_id: int) -> None:
    """Delete a provider; its past attempts keep its name."""
    db.session.delete(get(account_id, provider_id))
    db.session.commit()


def today_cap(provider: Provider, now: datetime | None = None) -> int | None:
    """How many messages the provider may send today (UTC), warm-up included; None for no limit."""
    return engine.today_cap(provider, now)


# What the dashboard and the API show about providers and delivery.


@dataclass(frozen=True)
class ProviderState:
    """A provider (or the instance default, ``provider`` None) with its live numbers."""

    provider: Provider | None
    name: str
    breaker: str
    sent_today: int | None
    cap_today: int | None
    warmup: engine.Warmup | None
    tokens: float | None

    @property
    def id(self) -> int | None:
        return self.provider.id if self.provider else None


def _epoch(now: datetime) -> float:
    return now.timestamp()


def provider_states(account_id: int, conn: redis.Redis, now: datetime | None = None) -> list[ProviderState]:
    """The account's providers in the order they are tried, each with breaker, sent and cap."""
    return live_states(list(db.session.scalars(query(account_id, by_priority=True))), conn, now)


def live_states(rows: list[Provider], conn: redis.Redis, now: datetime | None = None) -> list[ProviderState]:
    """``rows`` with their live numbers; "unknown" ones when Redis is unavailable."""
    now = now or datetime.now(UTC)
    try:
        return _states(rows, conn, now)
    except redis.RedisError:
        return [
            ProviderState(p, p.name, "unknown", None, engine.today_cap(p, now), engine.warmup_day(p, now), None)
            for p in rows
        ]


def _states(rows: list[Provider], conn: redis.Redis, now: datetime) -> list[ProviderState]:
    ids = [p.id for p in rows]
    sent = engine.sent_today(conn, ids, now)
    names = [breaker.provider_name(pid) for pid in ids]
    gates = {s.name: s.state for s in breaker.snapshots(conn, names, _epoch(now))}
    tokens = {b.name: b.tokens for b in ratelimit.buckets(conn, [f"provider:{pid}" for pid in ids], _epoch(now))}
    return [
        ProviderState(
            p,
            p.name,
            gates[breaker.provider_name(p.id)],
            sent[p.id],
            engine.today_cap(p, now),
            engine.warmup_day(p, now),
            tokens.get(f"provider:{p.id}"),
        )
        for p in rows
    ]


def _default_state(conn: redis.Redis, now: datetime) -> ProviderState:
    name = EngineSettings.from_config(current_app.config).provider_name
    gate = breaker.snapshots(conn, [breaker.DEFAULT_PROVIDER], _epoch(now))[0]
    sent = engine.sent_today(conn, [None], now)[None]
    return ProviderState(None, name, gate.state, sent, None, None, None)


def _queues(conn: redis.Redis) -> tuple[list[dict], list[dict]]:
    queue = Queue(current_app.config["RQ_QUEUE"], connection=conn)
    queues = [
        {
            "name": queue.name,
            "queued": queue.count,
            "started": queue.started_job_registry.count,
            "failed": queue.failed_job_registry.count,
        }
    ]
    workers = []
    for worker in sorted(Worker.all(connection=conn), key=lambda w: w.name):
        job = worker.get_current_job()
        state = worker.get_state()
        # The function only: a job's arguments name other accounts' campaigns.
        workers.append(
            {
                "name": worker.name,
                "state": str(getattr(state, "value", state)),
                "queues": worker.queue_names(),
                "current_job": job.func_name.rpartition(".")[2] if job else None,
            }
        )
    return queues, workers


def _account_domains(account_id: int, candidates: set[str], also: set[str]) -> set[str]:
    """Which of ``candidates`` the account has mail waiting for (queued, sending or deferred)."""
    wanted = candidates - also
    if not wanted:
        return candidates & also
    domain = breaker.recipient_domain(SentEmail.recipient, db.session.get_bind().dialect.name)
    stmt = (
        sa.select(domain)
        .where(
            SentEmail.account_id == account_id,
            SentEmail.status.in_([EmailStatus.QUEUED, EmailStatus.SENDING, EmailStatus.DEFERRED]),
            domain.in_(sorted(wanted)),
        )
        .distinct()
    )
    return (candidates & also) | set(db.session.scalars(stmt))


def recent_failures(account_id: int, limit: int = RECENT_FAILURES) -> list:
    """The account's latest failed, bounced or deferred attempts, newest first, with recipients."""
    stmt = (
        sa.select(DeliveryAttempt, SentEmail.recipient)
        .join(SentEmail, DeliveryAttempt.email_id == SentEmail.id)
        .where(
            SentEmail.account_id == account_id,
            DeliveryAttempt.outcome.in_([Outcome.FAILED, Outcome.BOUNCED, Outcome.DEFERRED]),
        )
        .order_by(DeliveryAttempt.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(stmt))


def domain_limits() -> dict[str, float]:
    """``DOMAIN_RATE_LIMITS`` from the config (or the environment), parsed."""
    raw = current_app.config.get("DOMAIN_RATE_LIMITS", os.environ.get("DOMAIN_RATE_LIMITS", ""))
    return ratelimit.parse_domain_limits(raw)


def status(account_id: int, conn: redis.Redis, now: datetime | None = None) -> dict:
    """Queues, workers, breakers, buckets, providers and recent failures, as this account sees them."""
    now = now or datetime.now(UTC)
    failures = recent_failures(account_id)
    report = {
        "redis": "ok",
        "queues": [],
        "workers": [],
        "breakers": [],
        "buckets": [],
        "providers": [],
        "labels": {},
        "domain_limits": domain_limits(),
        "recent_failures": failures,
    }
    try:
        report["queues"], report["workers"] = _queues(conn)
        rows = list(db.session.scalars(query(account_id, by_priority=True)))
        states = _states(rows, conn, now)
        if not any(p.enabled for p in rows):
            states.append(_default_state(conn, now))
        report["providers"] = states
        report["labels"] = {breaker.provider_name(s.id): s.name for s in states}
        own = {breaker.provider_name(s.id) for s in states}
        gates = breaker.snapshots(conn, now=_epoch(now))
        buckets = ratelimit.buckets(conn, now=_epoch(now))
        candidates = {g.target for g in gates if g.kind == "domain"}
        candidates |= {b.name.partition(":")[2] for b in buckets if b.name.startswith("domain:")}
        failed = {recipient.rpartition("@")[2].lower() for _, recipient in failures}
        visible = _account_domains(account_id, candidates, failed)
        report["breakers"] = [g for g in gates if g.name in own or (g.kind == "domain" and g.target in visible)]
        report["buckets"] = [
            b
            for b in buckets
            if b.name in {f"provider:{s.id}" for s in states if s.id}
            or (b.name.startswith("domain:") and b.name.partition(":")[2] in visible)
        ]
    except redis.RedisError as exc:
        report["redis"] = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return report
