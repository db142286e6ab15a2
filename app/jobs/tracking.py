"""The tracking flush: the job that drains buffered opens and clicks into the database.

``ring`` enqueues one ``flush`` job unless one is already waiting (``postroom:tracking:doorbell``,
SET NX with an expiry, deleted by the job as it starts). The public routes ring when the buffer
gets its first hit or another full batch; the maintenance sweep rings whenever hits wait, so a
lost bell delays them by one maintenance interval at most.
"""

from __future__ import annotations

import logging

import redis
from flask import current_app

from app.extensions import db
from app.jobs import queue
from app.jobs.tasks import _in_app
from app.tracking import buffer

log = logging.getLogger(__name__)
DOORBELL = "postroom:tracking:doorbell"
DOORBELL_SECONDS = 60
BUDGET_SECONDS = 60.0


def ring() -> None:
    """Enqueue a flush unless one is already waiting; without Redis the sweep rings later."""
    try:
        if current_app.extensions["redis"].set(DOORBELL, "1", nx=True, ex=DOORBELL_SECONDS):
            queue.get_queue().enqueue(
                "app.jobs.tracking.flush", job_timeout=queue.JOB_TIMEOUT, result_ttl=600, failure_ttl=7 * 86400
            )
    except redis.RedisError as exc:
        log.warning("could not ring the tracking doorbell (the sweep will): %s", exc)


def redrive() -> bool:
    """Ring when hits wait in the buffer (called by the maintenance sweep); say whether."""
    try:
        due = buffer.waiting(current_app.extensions["redis"]) > 0
    except redis.RedisError:
        return False
    if due:
        ring()
    return due


@_in_app
def flush() -> int:
    """Write buffered opens and clicks; answer how many were written."""
    conn = current_app.extensions["redis"]
    conn.delete(DOORBELL)
    result = buffer.drain(db.session, conn, budget=BUDGET_SECONDS)
    if result.more:
        ring()
    return result.written
