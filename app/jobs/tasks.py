"""Thin RQ jobs: ids in, one engine call, errors propagate so RQ records them."""

from __future__ import annotations

import functools
import math
from datetime import timedelta

from flask import current_app, has_app_context

from app.delivery import maintenance as sweeper
from app.delivery import sender
from app.delivery.settings import EngineSettings
from app.extensions import db
from app.jobs import queue
from app.models.base import utcnow
from app.services import campaigns, imports, transactional

_app = None


def _in_app(func):
    """Run the job inside an app context: the worker's own app, or the caller's in tests."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        global _app
        if _app is None:
            from app import create_app

            _app = create_app()
        with _app.app_context():
            try:
                return func(*args, **kwargs)
            finally:
                db.session.remove()

    return wrapper


def _settings() -> EngineSettings:
    return EngineSettings.from_config(current_app.config)


@_in_app
def fan_out_campaign(campaign_id: int) -> int:
    rows = campaigns.fan_out(campaign_id)
    settings = _settings()
    if rows:
        jobs = min(current_app.config["DELIVERY_CONCURRENCY"], math.ceil(rows / settings.batch_size))
        queue.deliver_campaign(campaign_id, jobs)
    else:
        sender.finish_if_done(db.session, campaign_id)
    return rows


@_in_app
def deliver_campaign(campaign_id: int) -> int:
    result = sender.deliver_batch(
        db.session, _settings(), campaign_id=campaign_id, conn=current_app.extensions["redis"]
    )
    if result.more:
        queue.deliver_campaign(campaign_id)
    else:
        sender.finish_if_done(db.session, campaign_id)
    return result.claimed


@_in_app
def deliver_emails(email_ids: list[int]) -> int:
    settings, conn = _settings(), current_app.extensions["redis"]
    return sender.deliver_batch(db.session, settings, email_ids=email_ids, conn=conn).claimed


@_in_app
def maintenance() -> dict:
    report = sweeper.sweep(db.session)
    for campaign_id in campaigns.start_due():
        queue.fan_out(campaign_id)
    for campaign_id in report.fan_out:
        queue.fan_out(campaign_id)
    for campaign_id in report.campaigns:
        queue.deliver_campaign(campaign_id)
    for campaign_id in report.idle_campaigns:
        sender.finish_if_done(db.session, campaign_id)
    for campaign_id in report.cancelled:
        campaigns.cancel_open_rows(campaign_id)
    days = current_app.config["RETENTION_DAYS"]
    if days:
        sweeper.prune(db.session, utcnow() - timedelta(days=days))
    transactional.forget_expired_keys()
    from app.jobs import webhooks  # imports this module's _in_app

    webhooks.redrive()  # retries whose time came, deliveries whose worker died
    webhooks.prune()
    from app.jobs import tracking  # imports this module's _in_app

    tracking.redrive()  # opens and clicks waiting in the buffer
    queue.deliver_emails(report.emails)
    redriven = imports.maintain()  # imports whose job vanished; deletes finished uploads
    return {"requeued": report.requeued, "campaigns": len(report.campaigns), "imports": redriven}
