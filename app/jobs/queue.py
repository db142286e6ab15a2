"""Enqueue jobs after the database commit. Redis is only the doorbell.

If Redis is unreachable the enqueue is logged and dropped: the work is already committed in the
database and the periodic sweep enqueues it again.
"""

from __future__ import annotations

import logging

import redis
from flask import current_app
from rq import Queue

log = logging.getLogger(__name__)
JOB_TIMEOUT = 900


def get_queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=current_app.extensions["redis"])


def _enqueue(func: str, *args, **kwargs) -> None:
    try:
        get_queue().enqueue(func, *args, job_timeout=JOB_TIMEOUT, result_ttl=600, failure_ttl=7 * 86400, **kwargs)
    except redis.RedisError as exc:
        log.warning("could not enqueue %s%r (the sweep will retry): %s", func, args, exc)


def fan_out(campaign_id: int) -> None:
    _enqueue("app.jobs.tasks.fan_out_campaign", campaign_id)


def deliver_campaign(campaign_id: int, jobs: int = 1) -> None:
    for _ in range(jobs):
        _enqueue("app.jobs.tasks.deliver_campaign", campaign_id)


def deliver_emails(email_ids: list[int]) -> None:
    if email_ids:
        _enqueue("app.jobs.tasks.deliver_emails", list(email_ids))


def maintenance() -> None:
    _enqueue("app.jobs.tasks.maintenance")
