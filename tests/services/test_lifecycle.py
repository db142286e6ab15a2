"""Campaign lifecycle: schedule, pause, resume, cancel; finished only when every row is terminal."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.delivery import sender
from app.delivery.settings import EngineSettings
from app.extensions import db
from app.jobs import queue
from app.models import CampaignStatus, EmailStatus, SentEmail
from app.models.base import utcnow
from app.services import campaigns
from app.services.errors import Conflict
from tests.factories import bulk_subscribers, make_campaign, make_list


@pytest.fixture
def campaign(app, make_user):
    user = make_user()
    mailing_list = make_list(user.account_id)
    bulk_subscribers(user.account_id, mailing_list.id, 120)
    return make_campaign(user.account_id, mailing_list.id)


def _counts(campaign_id):
    db.session.expire_all()
    return campaigns.stats(campaign_id)


def test_pause_then_resume_sends_each_row_once(app, campaign, run_jobs, smtp_server):

    campaigns.send(campaign.account_id, campaign.id)
    campaigns.fan_out(campaign.id)
    settings = replace(EngineSettings.from_config(app.config), batch_size=50)
    sender.deliver_batch(db.session, settings, campaign_id=campaign.id)  # 50 delivered
    campaigns.pause(campaign.account_id, campaign.id)
    redis = app.extensions["redis"]
    redis.flushdb()  # drop the follow-up jobs: only what runs after this counts
    queue.deliver_campaign(campaign.id)
    run_jobs()  # a job that runs while paused claims nothing
    assert _counts(campaign.id)["delivered"] == 50 and _counts(campaign.id)["queued"] == 70
    with pytest.raises(Conflict):
        campaigns.pause(campaign.account_id, campaign.id)

    campaigns.resume(campaign.account_id, campaign.id)
    run_jobs()
    counts = _counts(campaign.id)
    assert counts["delivered"] == 120 and counts["total"] == 120
    assert len(smtp_server.received) == 120
    assert len({r.rcpt_tos[0] for r in smtp_server.received}) == 120
    assert campaigns.get(campaign.account_id, campaign.id).status == CampaignStatus.FINISHED


def test_pause_stops_a_batch_in_flight(app, campaign, smtp_server, monkeypatch):
    monkeypatch.setattr(sender, "GATE_SECONDS", 0.0)
    campaigns.send(campaign.account_id, campaign.id)
    campaigns.fan_out(campaign.id)
    settings = replace(EngineSettings.from_config(app.config), batch_size=100)

    class PausingTransport(sender.SmtpTransport):
        """Pauses the campaign (as a user clicking Pause would) after the 10th message."""

        sent = 0

        def send(self, *args):
            reply = super().send(*args)
            PausingTransport.sent += 1
            if PausingTransport.sent == 10:
                campaigns.pause(campaign.account_id, campaign.id)
            return reply

    factory = lambda s: PausingTransport(sender.SmtpSettings.from_url(s.smtp_url))  # noqa: E731
    result = sender.deliver_batch(db.session, settings, campaign_id=campaign.id, transport_factory=factory)
    assert result.claimed == 100 and result.delivered == 10
    counts = _counts(campaign.id)
    # The other 90 claimed rows went back to the queue, untouched.
    assert counts["delivered"] == 10 and counts["queued"] == 110 and counts["sending"] == 0
    assert sender.deliver_batch(db.session, settings, campaign_id=campaign.id).claimed == 0


def test_cancel_cancels_waiting_rows_and_never_sends_them(app, campaign, run_jobs, smtp_server):
    campaigns.send(campaign.account_id, campaign.id)
    campaigns.fan_out(campaign.id)
    campaigns.cancel(campaign.account_id, campaign.id)
    run_jobs()
    counts = _counts(campaign.id)
    assert counts["cancelled"] == 120 and smtp_server.received == []
    assert campaigns.get(campaign.account_id, campaign.id).status == CampaignStatus.CANCELLED
    with pytest.raises(Conflict):
        campaigns.resume(campaign.account_id, campaign.id)


def test_rows_in_flight_when_cancelled_are_cancelled_when_they_come_back(app, campaign, run_jobs):
    from app.delivery.maintenance import sweep

    campaigns.send(campaign.account_id, campaign.id)
    campaigns.fan_out(campaign.id)
    sender.claim(db.session, EngineSettings.from_config(app.config), campaign_id=campaign.id)
    campaigns.cancel(campaign.account_id, campaign.id)
    # The worker died holding its claim; the lease expires and the sweep finds the rows.
    report = sweep(db.session, now=utcnow() + timedelta(hours=1))
    assert report.cancelled == [campaign.id]
    campaigns.cancel_open_rows(campaign.id)
    assert _counts(campaign.id)["cancelled"] == 120


def test_scheduled_campaign_starts_exactly_once(app, campaign, run_jobs, smtp_server):
    campaigns.send(campaign.account_id, campaign.id, send_at=utcnow() + timedelta(hours=1))
    assert campaigns.get(campaign.account_id, campaign.id).status == CampaignStatus.SCHEDULED
    assert campaigns.start_due() == []
    later = utcnow() + timedelta(hours=2)
    # Two maintenance runs racing (two worker sets on one database): one wins.
    assert campaigns.start_due(later) == [campaign.id]
    assert campaigns.start_due(later) == []
    queue.maintenance()
    run_jobs()
    assert len(smtp_server.received) == 120
    assert (
        db.session.scalar(sa.select(sa.func.count(SentEmail.id)).where(SentEmail.status == EmailStatus.DELIVERED))
        == 120
    )
