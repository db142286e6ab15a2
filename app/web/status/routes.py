"""Delivery status: queues, workers, breakers, rate limits, providers and recent failures, live."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, render_template

from app.services import analytics, providers
from app.web.access import account_id
from app.web.charts import COLORS, Segment, stacked_rows
from app.web.status import bp

OUTCOMES = ("delivered", "deferred", "bounced", "failed")


def _context() -> dict:
    now = datetime.now(UTC)
    health = analytics.delivery_health(account_id(), now)
    return {
        "report": providers.status(account_id(), current_app.extensions["redis"], now),
        "now": now,
        "health": health,
        "health_charts": _health_charts(health),
    }


def _health_charts(health: dict) -> dict:
    """Attempt outcomes per recipient domain and per provider, as two bar charts."""

    def rows(groups: list[dict]) -> list:
        return [(g["name"], [Segment(o, g["counts"][o], COLORS[o]) for o in OUTCOMES]) for g in groups]

    return {
        "domains": stacked_rows("health-domains", "Attempts by recipient domain", rows(health["domains"])),
        "providers": stacked_rows("health-providers", "Attempts by provider", rows(health["providers"])),
    }


@bp.route("/status")
def index():
    return render_template("status/index.html", **_context())


@bp.route("/status/live")
def live():
    """The status fragment alone; it polls itself every five seconds."""
    return render_template("status/_status.html", **_context())
