"""Claims are leases; the sweep re-drives what a dead worker or a lost job left behind."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.delivery import ledger, sender
from app.delivery.maintenance import sweep
from app.delivery.settings import EngineSettings
from app.extensions import db
from app.models import CampaignStatus, EmailEvent, EmailStatus, SentEmail
from app.models.base import utcnow
from app.services import campaigns
from tests.factories import add_subscribers, make_campaign, make_list


@pytest.fixture
def sending_campaign(app, make_user):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 5)
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaign.status = CampaignStatus.SENDING
    db.session.commit()
    campaigns.fan_out(campaign.id)
    return campaign


def _settings(app, **overrides):
    settings = EngineSettings.from_config(app.config)
    from dataclasses import replace

    return replace(settings, **overrides)


def _statuses(campaign_id):
    db.session.expire_all()
    return sorted(
        s.value for s in db.session.scalars(sa.select(SentEmail.status).where(SentEmail.campaign_id == campaign_id))
    )


def test_a_row_is_claimed_once(app, sending_campaign):
    settings = _settings(app, batch_size=3)
    _, first = sender.claim(db.session, settings, campaign_id=sending_campaign.id)
    _, second = sender.claim(db.session, settings, campaign_id=sending_campaign.id)
    _, third = sender.claim(db.session, settings, campaign_id=sending_campaign.id)
    assert len(first) == 3 and len(second) == 2 and third == []
    assert not set(first) & set(second)


def test_expired_lease_is_requeued_and_delivered_once(app, sending_campaign, run_jobs, smtp_server):
    # A worker claimed everything and died: nothing was sent.
    sender.claim(db.session, _settings(app), campaign_id=sending_campaign.id)
    assert _statuses(sending_campaign.id) == ["sending"] * 5
    assert sweep(db.session, now=utcnow()).requeued == 0  # lease still valid
    report = sweep(db.session, now=utcnow() + timedelta(seconds=app.config["DELIVERY_LEASE_SECONDS"] + 1))
    assert report.requeued == 5 and report.campaigns == [sending_campaign.id]
    assert _statuses(sending_campaign.id) == ["queued"] * 5
    from app.jobs import queue

    queue.deliver_campaign(sending_campaign.id)
    run_jobs()
    assert _statuses(sending_campaign.id) == ["delivered"] * 5
    assert len(smtp_server.received) == 5
    events = db.session.scalars(sa.select(EmailEvent.type).where(EmailEvent.type == "lease_expired")).all()
    assert len(events) == 5


def test_a_stale_worker_cannot_overwrite_a_row_taken_over(app, sending_campaign):
    token, ids = sender.claim(db.session, _settings(app, batch_size=1), campaign_id=sending_campaign.id)
    sweep(db.session, now=utcnow() + timedelta(hours=1))
    _, again = sender.claim(db.session, _settings(app, batch_size=1), campaign_id=sending_campaign.id)
    assert again == ids
    moved = ledger.transition(db.session, ids, EmailStatus.FAILED, "failed", where=[SentEmail.lease_token == token])
    assert moved == []


def test_deferred_mail_is_retried_with_the_same_message_id(app, make_user, run_jobs, smtp_server):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 1)
    smtp_server.handler.replies["user0@example.com"] = "451 4.3.0 Temporary failure, try later"
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    run_jobs()
    row = db.session.scalar(sa.select(SentEmail).where(SentEmail.campaign_id == campaign.id))
    assert row.status == EmailStatus.DEFERRED
    # No sooner than the first step of the schedule.
    assert row.next_attempt_at - utcnow() >= timedelta(seconds=app.config["DELIVERY_RETRY_SCHEDULE"][0] - 5)
    assert sweep(db.session).requeued == 0

    smtp_server.handler.replies.clear()
    report = sweep(db.session, now=row.next_attempt_at + timedelta(seconds=1))
    assert report.requeued == 1
    # The claim compares next_attempt_at with the real clock; make the retry due now.
    db.session.execute(sa.update(SentEmail).values(next_attempt_at=utcnow()))
    db.session.commit()
    from app.jobs import queue

    queue.deliver_campaign(campaign.id)
    run_jobs()
    db.session.refresh(row)
    assert row.status == EmailStatus.DELIVERED and row.attempt_count == 2
    assert [a.outcome.value for a in row.attempts] == ["deferred", "delivered"]
    assert smtp_server.received[0].message["Message-ID"] == row.message_id
    db.session.refresh(campaign)
    assert campaign.status == CampaignStatus.FINISHED


def test_a_vanished_fan_out_job_is_found_again(app, make_user, run_jobs, redis_conn, smtp_server):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 3)
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    redis_conn.flushdb()  # the doorbell is lost; the database still says "sending"
    assert run_jobs() == 0
    from app.jobs import queue

    queue.maintenance()
    run_jobs()
    assert len(smtp_server.received) == 3
    db.session.refresh(campaign)
    assert campaign.status == CampaignStatus.FINISHED


def test_connect_failure_defers_without_costing_an_attempt(app, sending_campaign):
    from tests.smtp_server import free_port

    settings = _settings(app, smtp_url=f"smtp://127.0.0.1:{free_port()}?security=none", smtp_timeout=2.0)
    result = sender.deliver_batch(db.session, settings, campaign_id=sending_campaign.id)
    assert result.claimed == 5 and result.delivered == 0
    rows = db.session.scalars(sa.select(SentEmail).where(SentEmail.campaign_id == sending_campaign.id)).all()
    assert {r.status for r in rows} == {EmailStatus.DEFERRED}
    assert {r.attempt_count for r in rows} == {0}
    assert all(r.next_attempt_at is not None for r in rows)


def test_transition_table_refuses_leaving_a_terminal_status(app, sending_campaign):
    ids = list(db.session.scalars(sa.select(SentEmail.id).where(SentEmail.campaign_id == sending_campaign.id)))
    db.session.execute(sa.update(SentEmail).values(status=EmailStatus.DELIVERED))
    db.session.commit()
    assert ledger.transition(db.session, ids, EmailStatus.QUEUED, "requeued") == []
    with pytest.raises(ledger.TransitionError):
        ledger.transition(db.session, ids, EmailStatus.QUEUED, "requeued", from_statuses=[EmailStatus.DELIVERED])
    # The one exit: a late bounce.
    assert len(ledger.transition(db.session, ids, EmailStatus.BOUNCED, "bounced")) == 5


def test_retention_prunes_detail_of_old_finished_mail_only(app, sending_campaign, run_jobs):
    from app.delivery.maintenance import prune
    from app.jobs import queue
    from app.models import DeliveryAttempt

    queue.deliver_campaign(sending_campaign.id)
    run_jobs()
    open_id = db.session.scalar(sa.select(SentEmail.id).limit(1))
    db.session.execute(sa.update(SentEmail).where(SentEmail.id == open_id).values(status=EmailStatus.DEFERRED))
    db.session.commit()
    assert prune(db.session, utcnow() - timedelta(days=1)) == 0  # nothing old yet
    removed = prune(db.session, utcnow() + timedelta(seconds=1))
    assert removed == 4 * 3  # 4 finished e-mails: 1 attempt + 2 stored events (claimed, delivered) each
    assert db.session.scalar(sa.select(sa.func.count(SentEmail.id))) == 5  # the ledger rows stay
    assert db.session.scalar(sa.select(sa.func.count(DeliveryAttempt.id))) == 1  # the open one keeps its detail
