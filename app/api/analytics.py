"""API v1 campaign analytics: ``GET /campaigns/{id}/stats``.

Opens and clicks are counted twice over, people and machines apart (``machine``: bots, link
scanners, privacy proxies; see app/tracking/machine.py), each as ``total`` events and
``unique`` e-mails. ``timeline`` buckets the campaign's activity (``step_seconds`` long).
"""

from __future__ import annotations

from pydantic import Field

from app.api.auth import account_id
from app.api.openapi import api_route
from app.api.schemas import CampaignStats, Out, Timestamp
from app.models import CampaignStatus
from app.services import analytics, campaigns


class Counts(Out):
    total: int = Field(description="events")
    unique: int = Field(description="distinct e-mails")


class Engagement(Out):
    human: Counts
    machine: Counts = Field(description="bots, link scanners and privacy proxies (Apple Mail's)")


class LinkStats(Out):
    id: int
    position: int = Field(description="order of first appearance in the message, from 0")
    url: str
    human: Counts
    machine: Counts


class TrackingOut(Out):
    opens: bool = Field(description="messages carry the open pixel (the list's and the campaign's setting)")
    clicks: bool = Field(description="http(s) links go through Postroom")


class TimelinePoint(Out):
    at: Timestamp = Field(description="the start of the bucket")
    delivered: int
    bounced: int
    opened: int
    clicked: int
    machine_opened: int
    machine_clicked: int


class Timeline(Out):
    step_seconds: int
    points: list[TimelinePoint]


class CampaignAnalytics(Out):
    """A campaign's deliveries, opens and clicks, people and machines apart."""

    campaign_id: int
    status: CampaignStatus
    tracking: TrackingOut
    statuses: CampaignStats
    opens: Engagement
    clicks: Engagement
    open_rate: float | None = Field(description="people's unique opens / delivered (null before any delivery)")
    click_rate: float | None = Field(description="people's unique clicks / delivered")
    links: list[LinkStats]
    timeline: Timeline | None = Field(description="null until the campaign starts")


@api_route("/campaigns/<int:campaign_id>/stats", response=CampaignAnalytics)
def campaign_stats(campaign_id: int):
    """A campaign's statuses, unique and total opens and clicks, per-link clicks and timeline."""
    return analytics.campaign_report(campaigns.get(account_id(), campaign_id))
