"""Prometheus metrics for the operator, computed from the database and Redis at each scrape.

The numbers are instance-wide (every account), which is why ``/metrics`` is for the operator
only (app/web/ops). Nothing is counted in process memory: web and worker processes may run on
many machines, and the database and Redis already hold every number, so a scrape asks them.
``collect`` raises the database's errors (the scrape fails, Prometheus records ``up 0``); when
Redis is unreachable it still answers, with ``postroom_redis_up 0`` and no Redis-backed metric.

- ``postroom_emails{status}``: ``sent_emails`` rows in each status (every status, 0 when none);
  a count per status over its range of the ``(status, lease_expires_at)`` index, never the table.
- ``postroom_queue_depth{queue}``, ``postroom_queue_failed_jobs{queue}``: jobs waiting in, and
  jobs failed from, each RQ queue (the e-mail queue, the webhook queue, any other RQ knows).
- ``postroom_workers{queue}``: live RQ workers listening on each queue.
- ``postroom_breaker_state{kind,target}``: 0 closed, 1 half-open, 2 open, for every circuit
  breaker that has any state (``app.delivery.breaker.snapshots``).
- ``postroom_attempt_duration_seconds``: a *gauge histogram* of the delivery attempts started
  in the last ``ATTEMPT_WINDOW`` seconds, from ``delivery_attempts.duration_ms`` (range scan on
  the ``started_at`` index). Not a cumulative Histogram fed by the workers: that needs
  prometheus-client's multiprocess mode, a directory shared by every process, which workers on
  other machines do not share, and its counts would die with each worker. The database has
  every attempt already; ``histogram_quantile(0.95, postroom_attempt_duration_seconds_bucket)``
  reads the last hour's 95th percentile directly, with no ``rate()``.
- ``postroom_redis_up``: 1 when Redis answered this scrape.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import redis
import sqlalchemy as sa
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from rq import Queue, Worker

from app.delivery import breaker
from app.extensions import db
from app.models import DeliveryAttempt
from app.models.base import utcnow
from app.services import emails

ATTEMPT_WINDOW = 3600
# Upper bounds in seconds: an SMTP conversation takes from tens of milliseconds (a relay on
# the LAN) to the 30 s SMTP_TIMEOUT and beyond.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BREAKER_VALUES = {breaker.CLOSED: 0, breaker.HALF_OPEN: 1, breaker.OPEN: 2}


class PostroomCollector(Collector):
    """Every Postroom metric, read at scrape time from the app's database and from ``conn``."""

    def __init__(self, conn: redis.Redis, queues: list[str]):
        self.conn, self.queues = conn, queues

    def describe(self) -> list[Metric]:
        return []  # registering must not query anything; the names are only known by collecting

    def collect(self) -> Iterator[Metric]:
        yield emails_by_status()
        yield attempt_durations()
        try:
            redis_metrics, answered = [*queue_metrics(self.conn, self.queues), breaker_states(self.conn)], 1
        except redis.RedisError:
            redis_metrics, answered = [], 0
        up = GaugeMetricFamily("postroom_redis_up", "1 when Redis answered this scrape, else 0.")
        up.add_metric([], answered)
        yield up
        yield from redis_metrics


def registry(conn: redis.Redis, queues: list[str]) -> CollectorRegistry:
    """A registry holding only Postroom's collector (no process metrics of the web worker)."""
    result = CollectorRegistry(auto_describe=False)
    result.register(PostroomCollector(conn, queues))
    return result


def emails_by_status() -> GaugeMetricFamily:
    metric = GaugeMetricFamily("postroom_emails", "E-mails (sent_emails rows) in each status.", labels=["status"])
    for status, count in emails.count_by_status().items():
        metric.add_metric([status.value], count)
    return metric


def attempt_durations() -> GaugeHistogramMetricFamily:
    """The last ``ATTEMPT_WINDOW`` seconds of attempt durations, counted in one pass."""
    duration = DeliveryAttempt.duration_ms
    columns = [sa.func.count(), sa.func.coalesce(sa.func.sum(duration), 0)]
    columns += [
        sa.func.coalesce(sa.func.sum(sa.case((duration <= le * 1000, 1), else_=0)), 0) for le in DURATION_BUCKETS
    ]
    since = utcnow() - timedelta(seconds=ATTEMPT_WINDOW)
    total, total_ms, *cumulative = db.session.execute(
        sa.select(*columns).where(DeliveryAttempt.started_at >= since)
    ).one()
    metric = GaugeHistogramMetricFamily(
        "postroom_attempt_duration_seconds",
        f"Duration of the SMTP delivery attempts started in the last {ATTEMPT_WINDOW} seconds.",
        unit="seconds",
    )
    buckets = [(repr(le), int(n)) for le, n in zip(DURATION_BUCKETS, cumulative, strict=True)]
    metric.add_metric([], [*buckets, ("+Inf", int(total))], gsum_value=int(total_ms) / 1000)
    return metric


def queue_metrics(conn: redis.Redis, queues: list[str]) -> Iterator[GaugeMetricFamily]:
    """Depth, failed jobs and workers of ``queues`` and of every other queue RQ knows."""
    names = sorted(set(queues) | {q.name for q in Queue.all(connection=conn)})
    depth = GaugeMetricFamily("postroom_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"])
    failed = GaugeMetricFamily(
        "postroom_queue_failed_jobs", "Jobs in each RQ queue's failed-job registry.", labels=["queue"]
    )
    workers = GaugeMetricFamily("postroom_workers", "Live RQ workers listening on each queue.", labels=["queue"])
    listening = [w.queue_names() for w in Worker.all(connection=conn)]
    for name in names:
        queue = Queue(name, connection=conn)
        depth.add_metric([name], queue.count)
        # cleanup=False: a scrape reads, it never moves expired jobs around.
        failed.add_metric([name], queue.failed_job_registry.get_job_count(cleanup=False))
        workers.add_metric([name], sum(name in queue_names for queue_names in listening))
    yield from (depth, failed, workers)


def breaker_states(conn: redis.Redis) -> GaugeMetricFamily:
    metric = GaugeMetricFamily(
        "postroom_breaker_state",
        "Circuit breakers with any state: 0 closed, 1 half-open, 2 open.",
        labels=["kind", "target"],
    )
    for state in breaker.snapshots(conn):
        metric.add_metric([state.kind, state.target], BREAKER_VALUES[state.state])
    return metric
