"""A campaign sent for real: fan-out, RQ jobs, SMTP to a loopback server, the ledger."""

from __future__ import annotations

import sqlalchemy as sa

from app.delivery import fanout
from app.delivery.suppression import suppress
from app.extensions import db
from app.models import CampaignStatus, DeliveryAttempt, SentEmail, SuppressionReason
from app.services import campaigns
from tests.factories import add_subscribers, make_campaign, make_list


def test_campaign_reaches_every_confirmed_subscriber_once(app, make_user, run_jobs, smtp_server):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 7)
    campaign = make_campaign(user.account_id, mailing_list.id)

    campaigns.send(user.account_id, campaign.id)
    run_jobs()

    assert len(smtp_server.received) == 7
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == sorted(f"user{i}@example.com" for i in range(7))
    db.session.refresh(campaign)
    assert campaign.status == CampaignStatus.FINISHED
    stats = campaigns.stats(campaign.id)
    assert stats["delivered"] == 7 and stats["total"] == 7
    message = smtp_server.received[0].message
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<http://localhost/u/")
    ids = {r.message["Message-ID"] for r in smtp_server.received}
    stored = set(db.session.scalars(sa.select(SentEmail.message_id)))
    assert ids == stored


def test_fan_out_is_idempotent_and_skips_ineligible(app, make_user):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 3)
    add_subscribers(user.account_id, mailing_list.id, 2, domain="pending.example.com", status="pending")
    suppress(db.session, user.account_id, "user0@example.com", SuppressionReason.MANUAL)
    db.session.commit()
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaign.status = CampaignStatus.SENDING
    db.session.commit()

    assert fanout.fan_out(db.session, campaign) == 2
    db.session.commit()
    assert fanout.fan_out(db.session, campaign) == 0
    db.session.commit()

    assert db.session.scalar(sa.select(sa.func.count(SentEmail.id)).where(SentEmail.campaign_id == campaign.id)) == 2
    rows = db.session.scalars(sa.select(SentEmail).where(SentEmail.campaign_id == campaign.id)).all()
    assert [[e.type for e in row.events] for row in rows] == [["queued"], ["queued"]]


def test_replies_are_recorded_per_recipient(app, make_user, run_jobs, smtp_server):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 3)
    smtp_server.handler.replies["user1@example.com"] = "550 5.1.1 <user1@example.com>: user unknown"
    smtp_server.handler.replies["user2@example.com"] = "451 4.7.1 greylisted, try again later"
    campaign = make_campaign(user.account_id, mailing_list.id)

    campaigns.send(user.account_id, campaign.id)
    run_jobs()

    rows = {e.recipient: e for e in db.session.scalars(sa.select(SentEmail))}
    assert rows["user0@example.com"].status.value == "delivered"
    assert rows["user1@example.com"].status.value == "bounced"
    assert rows["user2@example.com"].status.value == "deferred"
    attempt = db.session.scalar(
        sa.select(DeliveryAttempt).where(DeliveryAttempt.email_id == rows["user1@example.com"].id)
    )
    assert (attempt.smtp_code, attempt.enhanced_code, attempt.outcome.value) == (550, "5.1.1", "bounced")
    assert "user unknown" in attempt.response
    from app.delivery.suppression import is_suppressed

    assert is_suppressed(db.session, user.account_id, "user1@example.com")
    assert not is_suppressed(db.session, user.account_id, "user2@example.com")
    db.session.refresh(campaign)
    assert campaign.status == CampaignStatus.SENDING  # a deferred row is not terminal
