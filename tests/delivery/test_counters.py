"""The campaign counters the database keeps (migration 0013) agree with the rows, every way a
row can change: fan-out, the engine's outcomes, a retry, a bounce arriving later, a cancel, a
hand-written UPDATE, and a transaction that rolls back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app.delivery import fanout
from app.extensions import db
from app.models import CampaignActivity, CampaignStatus, DeliveryAttempt, EmailEvent, SentEmail, Subscriber
from app.services import analytics, campaigns, counters
from tests.factories import add_subscribers, make_campaign, make_list


def _assert_agree(campaign_id: int) -> dict[str, int]:
    db.session.expire_all()
    kept = counters.statuses([campaign_id])[campaign_id]
    assert kept == counters.recount(campaign_id)
    assert counters.disagreements() == {}
    return kept


def _fan_out(campaign) -> None:
    """Fan the campaign out as its first job would, without delivering anything."""
    campaign.status = CampaignStatus.SENDING
    db.session.commit()
    fanout.fan_out(db.session, campaign)


def test_counts_follow_a_real_send_with_every_outcome(app, make_user, run_jobs, smtp_server):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 6)
    smtp_server.handler.replies["user1@example.com"] = "550 5.1.1 <user1@example.com>: user unknown"
    smtp_server.handler.replies["user2@example.com"] = "451 4.7.1 greylisted, try again later"
    campaign = make_campaign(user.account_id, mailing_list.id)

    campaigns.send(user.account_id, campaign.id)
    run_jobs()

    kept = _assert_agree(campaign.id)
    assert (kept["delivered"], kept["bounced"], kept["deferred"], kept["total"]) == (4, 1, 1, 6)
    assert campaigns.stats(campaign.id) == kept
    # Deliveries and the bounce are in the per-minute activity, in the minute they happened.
    minutes = db.session.execute(
        sa.select(sa.func.sum(CampaignActivity.delivered), sa.func.sum(CampaignActivity.bounced)).where(
            CampaignActivity.campaign_id == campaign.id
        )
    ).one()
    assert tuple(minutes) == (4, 1)


def test_cancel_hand_updates_and_rollbacks_keep_counts_exact(app, make_user):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 5)
    campaign = make_campaign(user.account_id, mailing_list.id)
    _fan_out(campaign)
    assert _assert_agree(campaign.id)["queued"] == 5

    # A bulk UPDATE from anywhere (here by hand) is counted, with its sent_at minute.
    sent_at = datetime(2026, 11, 24, 10, 30, 15, tzinfo=UTC)
    first = db.session.scalar(
        sa.select(SentEmail.id).where(SentEmail.campaign_id == campaign.id).order_by(SentEmail.id)
    )
    db.session.execute(sa.update(SentEmail).where(SentEmail.id == first).values(status="delivered", sent_at=sent_at))
    db.session.commit()
    assert _assert_agree(campaign.id)["delivered"] == 1

    # A change that rolls back leaves no trace in the counters.
    db.session.execute(sa.update(SentEmail).where(SentEmail.campaign_id == campaign.id).values(status="failed"))
    db.session.rollback()
    assert _assert_agree(campaign.id)["failed"] == 0

    # A bounce arriving after delivery moves the row from delivered to bounced; sent_at stays.
    db.session.execute(
        sa.update(SentEmail)
        .where(SentEmail.id == first)
        .values(status="bounced", updated_at=sent_at + timedelta(hours=2))
    )
    db.session.commit()
    kept = _assert_agree(campaign.id)
    assert (kept["delivered"], kept["bounced"]) == (0, 1)

    campaigns.cancel(user.account_id, campaign.id)
    kept = _assert_agree(campaign.id)
    assert kept["cancelled"] == 4 and kept["queued"] == 0 and kept["total"] == 5

    # The activity chart reads the counters: the delivery at 10:30 and the bounce two hours later.
    series = analytics._span(sent_at - timedelta(minutes=5), sent_at + timedelta(hours=3))
    analytics._fill_deliveries(series, campaign.id)
    assert sum(series.series["delivered"]) == 1 and sum(series.series["bounced"]) == 1
    delivered_at = series.times[series.series["delivered"].index(1)]
    bounced_at = series.times[series.series["bounced"].index(1)]
    assert delivered_at <= sent_at < delivered_at + timedelta(seconds=series.step)
    assert bounced_at <= sent_at + timedelta(hours=2) < bounced_at + timedelta(seconds=series.step)


def test_campaign_list_reads_every_campaign_counts_in_one_query(app, make_user):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 3)
    sent, draft = make_campaign(user.account_id, mailing_list.id), make_campaign(user.account_id, mailing_list.id)
    _fan_out(sent)

    both = counters.statuses([sent.id, draft.id])
    assert both[sent.id]["queued"] == 3 and both[sent.id]["total"] == 3
    assert both[draft.id]["total"] == 0 and set(both[draft.id]) == set(both[sent.id])


def test_rows_inserted_already_sent_are_counted_in_their_minute(app, make_user):
    """The app inserts campaign rows queued, through fan-out, which counts them. A row inserted
    delivered or bounced by hand (an import of history, a bench) is not counted by a trigger:
    ``recount`` finds it, and its repair counts status, delivery minute and bounce minute."""
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 2)
    campaign = make_campaign(user.account_id, mailing_list.id)
    subscribers = db.session.scalars(sa.select(Subscriber.id).order_by(Subscriber.id)).all()
    at = datetime(2026, 11, 1, 8, 0, 30, tzinfo=UTC)
    for subscriber_id, status in zip(subscribers, ("delivered", "bounced"), strict=True):
        db.session.add(
            SentEmail(
                account_id=user.account_id,
                campaign_id=campaign.id,
                subscriber_id=subscriber_id,
                recipient=f"{subscriber_id}@example.com",
                kind="campaign",
                status=status,
                message_id=f"<{subscriber_id}.history@example.com>",
                created_at=at,
                updated_at=at,
                sent_at=at,
            )
        )
    db.session.commit()

    assert set(counters.disagreements()) == {campaign.id}
    counters.rebuild(campaign.id)
    kept = _assert_agree(campaign.id)
    assert (kept["delivered"], kept["bounced"]) == (1, 1)
    minute = int(at.timestamp()) // 60
    assert counters.activity(campaign.id, minute, minute) == [(minute, 2, 1)]
    assert counters.last_minute(campaign.id) == minute


def test_recount_finds_and_repairs_rows_deleted_by_hand(app, make_user, run_jobs):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 4)
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    run_jobs()
    minutes_before = counters.activity(campaign.id, 0, 2**40)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["campaigns", "recount"]).exit_code == 0

    # Deleting rows by hand is the one change the triggers do not follow (the app never does it).
    victim = db.session.scalar(sa.select(SentEmail).where(SentEmail.campaign_id == campaign.id).limit(1))
    db.session.execute(sa.delete(EmailEvent).where(EmailEvent.email_id == victim.id))
    db.session.execute(sa.delete(DeliveryAttempt).where(DeliveryAttempt.email_id == victim.id))
    db.session.execute(sa.delete(SentEmail).where(SentEmail.id == victim.id))
    db.session.commit()
    found = runner.invoke(args=["campaigns", "recount"])
    assert found.exit_code == 1 and f"campaign {campaign.id}:" in found.output

    fixed = runner.invoke(args=["campaigns", "recount", "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert _assert_agree(campaign.id)["delivered"] == 3
    assert sum(d for _, d, _ in counters.activity(campaign.id, 0, 2**40)) == 3
    assert [m for m, _, _ in counters.activity(campaign.id, 0, 2**40)] == [m for m, _, _ in minutes_before]
