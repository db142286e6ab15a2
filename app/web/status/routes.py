"""Delivery status: queues, workers, breakers, rate limits, providers and recent failures, live."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, render_template

from app.services import providers
from app.web.access import account_id
from app.web.status import bp


def _context() -> dict:
    now = datetime.now(UTC)
    return {"report": providers.status(account_id(), current_app.extensions["redis"], now), "now": now}


@bp.route("/status")
def index():
    return render_template("status/index.html", **_context())


@bp.route("/status/live")
def live():
    """The status fragment alone; it polls itself every five seconds."""
    return render_template("status/_status.html", **_context())
