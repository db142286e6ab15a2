"""A campaign's analytics section: activity over time, its status breakdown, opens, clicks and links."""

from __future__ import annotations

from flask import render_template

from app.models import Campaign, CampaignStatus
from app.services import analytics, campaigns
from app.web import charts
from app.web.access import account_id
from app.web.campaigns import bp
from app.web.charts import COLORS, Line, Segment

STATUS_ORDER = ("delivered", "bounced", "failed", "suppressed", "cancelled", "deferred", "sending", "queued")


def context(campaign: Campaign, statuses: dict | None = None) -> dict:
    """What ``campaigns/_analytics.html`` shows; it polls itself while the campaign sends."""
    report = analytics.campaign_report(campaign, statuses=statuses)
    statuses = report["statuses"]
    breakdown = charts.stacked_bar(
        f"campaign-{campaign.id}-statuses",
        "E-mails by status",
        [Segment(key, statuses[key], COLORS[key]) for key in STATUS_ORDER],
    )
    series = report["series"]
    activity = None
    if series is not None:
        data = series.series
        machine = [a + b for a, b in zip(data["machine_opened"], data["machine_clicked"], strict=True)]
        activity = charts.time_chart(
            f"campaign-{campaign.id}-activity",
            "Deliveries, bounces, opens and clicks over time",
            series.times,
            series.step,
            [
                Line("Delivered", data["delivered"], COLORS["delivered"]),
                Line("Bounced", data["bounced"], COLORS["bounced"]),
                Line("Opened", data["opened"], COLORS["opened"]),
                Line("Clicked", data["clicked"], COLORS["clicked"]),
                Line("Machines", machine, COLORS["machine"], dashed=True),
            ],
        )
    return {
        "campaign": campaign,
        "report": report,
        "breakdown": breakdown,
        "activity": activity,
        "analytics_live": campaign.status == CampaignStatus.SENDING,
    }


@bp.route("/campaigns/<int:campaign_id>/analytics")
def analytics_fragment(campaign_id: int):
    """The analytics fragment alone, for HTMX polling while the campaign sends."""
    return render_template("campaigns/_analytics.html", **context(campaigns.get(account_id(), campaign_id)))
