"""Sending due webhook deliveries: claim with a lease, POST, record, retry on a schedule.

``claim`` leases due deliveries (``pending`` with ``next_attempt_at`` passed) with a
compare-and-set UPDATE (``FOR UPDATE SKIP LOCKED`` first on PostgreSQL), so any number of
webhook workers can run. The lease is written as ``next_attempt_at = now + lease``: a delivery
whose worker died becomes due again by itself, and the next claim takes it over. At most
``per_endpoint`` deliveries of one endpoint are leased at a time, counted across workers, so a
slow endpoint occupies that many request slots and no more.

``drain`` keeps up to ``concurrency`` requests in flight on a thread pool: the threads only do
HTTP (``send``), while this thread claims and records, so a reply from a fast endpoint is
recorded while a slow one is still being waited for. Each ``post`` is bounded by ``timeout``.

``record`` writes the attempt and the delivery's next state in one transaction: 2xx succeeds;
410 Gone fails it, disables the endpoint (with the reason) and fails the endpoint's other
pending deliveries; anything else (3xx, which is never followed, 4xx, 5xx, a refused address, a
network error) retries after ``retry_schedule[n - 1]`` seconds plus up to 10 % jitter, with a
429's (or 503's) ``Retry-After`` as a floor, and fails after the schedule is used up. Times
come from the ``now`` arguments, so tests drive the schedule with a fake clock.
"""

from __future__ import annotations

import email.utils
import http
import random
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models import WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEvent
from app.models.base import utcnow
from app.webhooks import client, signing

D = WebhookDelivery
E = WebhookEndpoint
PENDING, SUCCEEDED, FAILED = (
    WebhookDeliveryStatus.PENDING,
    WebhookDeliveryStatus.SUCCEEDED,
    WebhookDeliveryStatus.FAILED,
)

# 5 s, 1 min, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: nine attempts over about 27.6 hours.
DEFAULT_SCHEDULE = (5, 60, 300, 1800, 7200, 18000, 36000, 36000)
MAX_RETRY_AFTER = 86400  # a Retry-After beyond a day is read as a day
POLL_SECONDS = 0.25  # how often drain looks for new due work while requests are in flight
EXCERPT_CHARS = 2048

Post = Callable[..., client.Response]


@dataclass(frozen=True)
class WebhookSettings:
    timeout: float = 10.0
    retry_schedule: tuple[int, ...] = DEFAULT_SCHEDULE
    concurrency: int = 8
    per_endpoint: int = 2
    allow_private: bool = False

    def __post_init__(self):
        if not self.timeout > 0:
            raise ValueError(f"WEBHOOK_TIMEOUT must be above 0 seconds, got {self.timeout!r}")
        if self.concurrency < 1 or self.per_endpoint < 1:
            raise ValueError(
                f"WEBHOOK_CONCURRENCY and WEBHOOK_PER_ENDPOINT must be at least 1, "
                f"got {self.concurrency!r} and {self.per_endpoint!r}"
            )
        if not self.retry_schedule:
            raise ValueError("WEBHOOK_RETRY_SCHEDULE must list at least one delay")

    @property
    def lease_seconds(self) -> float:
        """How long a claimed delivery stays reserved: its request ends well within it."""
        return 2 * self.timeout + 60

    @classmethod
    def from_config(cls, config: Mapping) -> WebhookSettings:
        return cls(
            timeout=config["WEBHOOK_TIMEOUT"],
            retry_schedule=tuple(config["WEBHOOK_RETRY_SCHEDULE"]),
            concurrency=config["WEBHOOK_CONCURRENCY"],
            per_endpoint=config["WEBHOOK_PER_ENDPOINT"],
            allow_private=config["WEBHOOK_ALLOW_PRIVATE"],
        )


@dataclass(frozen=True)
class Request:
    """One claimed delivery, signed and ready to POST."""

    delivery_id: int
    endpoint_id: int
    token: str  # the lease: recording checks it, so a taken-over delivery is not written over
    number: int  # this attempt's number, from 1
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Result:
    """What one POST came to: a response (any status), or the error that prevented one."""

    response: client.Response | None = None
    error: str | None = None
    elapsed_ms: int = 0


@dataclass(frozen=True)
class Verdict:
    status: WebhookDeliveryStatus
    next_attempt_at: datetime | None = None
    error: str | None = None
    gone: bool = False  # 410: disable the endpoint


def claim(session: Session, settings: WebhookSettings, *, limit: int, now: datetime | None = None) -> list[Request]:
    """Lease up to ``limit`` due deliveries, ``per_endpoint`` at most per endpoint; commit."""
    now = now or utcnow()
    if limit <= 0:
        return []
    busy = dict(
        session.execute(
            sa.select(D.endpoint_id, sa.func.count())
            .where(D.status == PENDING, D.lease_token.is_not(None), D.next_attempt_at > now)
            .group_by(D.endpoint_id)
        ).all()
    )
    due = sa.exists().where(D.endpoint_id == E.id, D.status == PENDING, D.next_attempt_at <= now)
    endpoints = list(session.scalars(sa.select(E.id).where(E.enabled == sa.true(), due)))
    # Each claim starts with another endpoint, so none waits behind a long backlog of another.
    random.shuffle(endpoints)
    candidates: list[int] = []
    postgres = session.get_bind().dialect.name == "postgresql"
    for endpoint_id in endpoints:
        quota = min(settings.per_endpoint - busy.get(endpoint_id, 0), limit - len(candidates))
        if quota <= 0:
            continue
        stmt = (
            sa.select(D.id)
            .where(D.endpoint_id == endpoint_id, D.status == PENDING, D.next_attempt_at <= now)
            .order_by(D.next_attempt_at, D.id)
            .limit(quota)
        )
        if postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        candidates += session.scalars(stmt)
        if len(candidates) >= limit:
            break
    if not candidates:
        session.commit()
        return []
    token = secrets.token_hex(8)
    claimed = list(
        session.execute(
            sa.update(D)
            .where(D.id.in_(candidates), D.status == PENDING, D.next_attempt_at <= now)
            .values(lease_token=token, next_attempt_at=now + timedelta(seconds=settings.lease_seconds), updated_at=now)
            .returning(D.id)
            .execution_options(synchronize_session=False)
        ).scalars()
    )
    rows = session.execute(
        sa.select(D.id, D.endpoint_id, D.attempt_count, WebhookEvent.public_id, WebhookEvent.payload, E)
        .join(WebhookEvent, WebhookEvent.id == D.event_id)
        .join(E, E.id == D.endpoint_id)
        .where(D.id.in_(claimed))
        .order_by(D.id)
    ).all()
    requests = [_request(row, token, now) for row in rows]
    session.commit()
    return requests


def _request(row, token: str, now: datetime) -> Request:
    body = row.payload.encode()
    # The signed timestamp is the wall clock's: receivers compare it with theirs.
    headers = signing.headers_for(row.WebhookEndpoint.signing_secrets(now), row.public_id, int(time.time()), body)
    return Request(row.id, row.endpoint_id, token, row.attempt_count + 1, row.WebhookEndpoint.url, body, headers)


def send(request: Request, settings: WebhookSettings, post: Post = client.post) -> Result:
    """POST one request; never touches the database, so it runs on any thread."""
    started = time.monotonic()
    try:
        response = post(
            request.url, request.body, request.headers, timeout=settings.timeout, allow_private=settings.allow_private
        )
    except client.Blocked as exc:
        return Result(error=f"refused: {exc}", elapsed_ms=_since(started))
    except (client.TransportError, ValueError) as exc:
        return Result(error=str(exc), elapsed_ms=_since(started))
    return Result(response=response, elapsed_ms=response.elapsed_ms)


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def judge(
    settings: WebhookSettings,
    number: int,
    result: Result,
    now: datetime,
    rand: Callable[[], float] = random.random,
) -> Verdict:
    """The delivery's next state after attempt ``number`` came to ``result``."""
    response = result.response
    if response is not None and 200 <= response.status < 300:
        return Verdict(SUCCEEDED)
    if response is not None and response.status == 410:
        return Verdict(FAILED, error="410 Gone: the endpoint no longer wants webhooks", gone=True)
    error = describe(result)
    if number > len(settings.retry_schedule):
        return Verdict(FAILED, error=f"{error}; gave up after {number} attempts")
    delay = settings.retry_schedule[number - 1] * (1 + rand() * 0.1)  # jitter only upwards: a floor
    if response is not None and response.status in (429, 503):
        delay = max(delay, retry_after(response.headers.get("retry-after"), now) or 0)
    return Verdict(PENDING, now + timedelta(seconds=delay), error)


def describe(result: Result) -> str:
    """One line saying why an attempt did not succeed."""
    response = result.response
    if response is None:
        return result.error or "no response"
    try:
        phrase = http.HTTPStatus(response.status).phrase
    except ValueError:
        phrase = ""
    text = f"HTTP {response.status} {phrase}".strip()
    if 300 <= response.status < 400:
        return f"{text}: redirect to {response.headers.get('location', '(no Location)')} not followed"
    return text


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP-date), capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), MAX_RETRY_AFTER))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT
        when = when.replace(tzinfo=now.tzinfo)
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER)


def record(
    session: Session,
    settings: WebhookSettings,
    request: Request,
    result: Result,
    *,
    now: datetime | None = None,
    rand: Callable[[], float] = random.random,
) -> WebhookDeliveryStatus | None:
    """Write the attempt and the delivery's next state; commit; return that state.

    None when the lease was lost (the delivery was taken over): the attempt is still recorded,
    the delivery is left to its new holder.
    """
    now = now or utcnow()
    response = result.response
    session.execute(
        sa.insert(WebhookAttempt.__table__),
        {
            "delivery_id": request.delivery_id,
            "number": request.number,
            "started_at": now,
            "url": request.url,
            "request_headers": request.headers,
            "status_code": response.status if response else None,
            "response_excerpt": response.body_excerpt[:EXCERPT_CHARS] if response else "",
            "elapsed_ms": result.elapsed_ms,
            "error": (None if response is not None and 200 <= response.status < 300 else describe(result)[:1024]),
        },
    )
    verdict = judge(settings, request.number, result, now, rand)
    moved = session.execute(
        sa.update(D)
        .where(D.id == request.delivery_id, D.lease_token == request.token, D.status == PENDING)
        .values(
            status=verdict.status,
            attempt_count=request.number,
            next_attempt_at=verdict.next_attempt_at,
            lease_token=None,
            last_status_code=response.status if response else None,
            last_error=verdict.error[:1024] if verdict.error else None,
            updated_at=now,
            finished_at=None if verdict.status == PENDING else now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved and verdict.gone:
        disable_gone(session, request.endpoint_id, now)
    session.commit()
    return verdict.status if moved else None


def disable_gone(session: Session, endpoint_id: int, now: datetime) -> None:
    """The endpoint answered 410 Gone: disable it, say why, and fail its pending deliveries."""
    reason = f"Disabled by Postroom on {now:%Y-%m-%d %H:%M} UTC: the endpoint answered 410 Gone."
    session.execute(
        sa.update(E)
        .where(E.id == endpoint_id, E.enabled == sa.true())
        .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        sa.update(D)
        .where(D.endpoint_id == endpoint_id, D.status == PENDING)
        .values(
            status=FAILED,
            lease_token=None,
            next_attempt_at=None,
            last_error="not sent: the endpoint was disabled after answering 410 Gone",
            updated_at=now,
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )


@dataclass
class DrainResult:
    sent: int = 0
    out_of_time: bool = False  # stopped claiming at the budget: due work may remain


def drain(
    session: Session,
    settings: WebhookSettings,
    *,
    budget: float = 60.0,
    clock: Callable[[], datetime] = utcnow,
    post: Post = client.post,
) -> DrainResult:
    """Send due deliveries until none is left or ``budget`` seconds have passed."""
    result = DrainResult()
    deadline = time.monotonic() + budget
    in_flight: dict[Future, Request] = {}
    with ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="webhook") as pool:
        while True:
            free = settings.concurrency - len(in_flight)
            if time.monotonic() >= deadline:
                result.out_of_time = True
            elif free:
                for request in claim(session, settings, limit=free, now=clock()):
                    in_flight[pool.submit(send, request, settings, post)] = request
            if not in_flight:
                return result
            done, _ = wait(in_flight, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                record(session, settings, in_flight.pop(future), future.result(), now=clock())
                result.sent += 1


def any_due(session: Session, now: datetime | None = None) -> bool:
    """Whether an enabled endpoint has a delivery waiting to be sent (the sweep's question)."""
    stmt = (
        sa.select(D.id)
        .join(E, E.id == D.endpoint_id)
        .where(D.status == PENDING, D.next_attempt_at <= (now or utcnow()), E.enabled == sa.true())
        .limit(1)
    )
    return session.execute(stmt).first() is not None


def prune(session: Session, older_than: datetime, chunk: int = 5000) -> int:
    """Delete finished deliveries (with their attempts) and events older than ``older_than``."""
    total = 0
    while True:
        ids = list(session.scalars(sa.select(D.id).where(D.status != PENDING, D.updated_at < older_than).limit(chunk)))
        if ids:
            session.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
            total += session.execute(sa.delete(D).where(D.id.in_(ids))).rowcount
        orphans = list(
            session.scalars(
                sa.select(WebhookEvent.id)
                .where(WebhookEvent.created_at < older_than, ~sa.exists().where(D.event_id == WebhookEvent.id))
                .limit(chunk)
            )
        )
        if orphans:
            session.execute(sa.delete(WebhookEvent).where(WebhookEvent.id.in_(orphans)))
        session.commit()
        if len(ids) < chunk and len(orphans) < chunk:
            return total
