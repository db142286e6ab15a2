"""The webhook queue: the doorbell that enqueues delivery, and the delivery job.

Webhook jobs run on their own queue (``WEBHOOK_QUEUE``), served by ``python worker.py
--webhooks``, so a slow endpoint never holds a worker that sends e-mail. ``ring`` enqueues one
``dispatch`` job unless one is already waiting: the Redis key ``postroom:webhooks:doorbell``
(SET NX, expiring) stands for "a job is queued", and ``dispatch`` deletes it as it starts, so
any event committed after that rings again. A dispatch job sends every due delivery, for up to
``BUDGET_SECONDS``, then rings again if it ran out of time. Redis is only the doorbell: if it is
away, the ring is dropped and ``redrive`` (the worker's ticker and the maintenance sweep) rings
again for whatever is due.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import redis
from flask import current_app, has_app_context
from rq import Queue

from app.extensions import db
from app.jobs.tasks import _in_app
from app.models.base import utcnow
from app.webhooks import dispatch as engine
from app.webhooks.dispatch import WebhookSettings

log = logging.getLogger(__name__)
DOORBELL = "postroom:webhooks:doorbell"
DOORBELL_SECONDS = 60  # a bell whose job was lost rings again after this
BUDGET_SECONDS = 60.0
JOB_TIMEOUT = 600


def get_queue() -> Queue:
    return Queue(current_app.config["WEBHOOK_QUEUE"], connection=current_app.extensions["redis"])


def ring() -> None:
    """Enqueue a dispatch job unless one is already waiting (called after a commit)."""
    if not has_app_context():
        log.warning("webhook events committed outside the app; the sweep will deliver them")
        return
    try:
        if current_app.extensions["redis"].set(DOORBELL, "1", nx=True, ex=DOORBELL_SECONDS):
            get_queue().enqueue(
                "app.jobs.webhooks.dispatch", job_timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=7 * 86400
            )
    except redis.RedisError as exc:
        log.warning("could not ring the webhook doorbell (the sweep will): %s", exc)


def redrive() -> bool:
    """Ring when a delivery is due (a retry whose time came, a lease that expired); say whether."""
    due = engine.any_due(db.session)
    db.session.commit()
    if due:
        ring()
    return due


def prune() -> int:
    """Delete finished deliveries older than ``WEBHOOK_RETENTION_DAYS`` (0 keeps them all)."""
    days = current_app.config["WEBHOOK_RETENTION_DAYS"]
    if not days:
        return 0
    return engine.prune(db.session, utcnow() - timedelta(days=days))


@_in_app
def dispatch() -> int:
    """Send every due webhook delivery; answer how many attempts were made."""
    current_app.extensions["redis"].delete(DOORBELL)
    result = engine.drain(db.session, WebhookSettings.from_config(current_app.config), budget=BUDGET_SECONDS)
    if result.out_of_time:
        ring()
    return result.sent
