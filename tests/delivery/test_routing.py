"""The engine obeys the shared limits: provider failover, daily caps, domain breakers, buckets."""

from __future__ import annotations

import time

import sqlalchemy as sa

from app.delivery import breaker
from app.extensions import db
from app.models import DeliveryAttempt, EmailStatus, SentEmail
from app.services import campaigns, providers
from tests.factories import add_subscribers, make_campaign, make_list
from tests.smtp_server import free_port


def _rows():
    db.session.expire_all()
    return {r.recipient: r for r in db.session.scalars(sa.select(SentEmail))}


def test_failover_to_the_next_provider(app, make_user, run_jobs, smtp_server, redis_conn):
    user = make_user()
    dead = providers.create(user.account_id, "primary", f"smtp://127.0.0.1:{free_port()}?security=none", priority=0)
    providers.create(user.account_id, "backup", smtp_server.url, priority=1)
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 4)
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    for _ in range(breaker.THRESHOLD):  # the primary has been failing: its breaker opens on the next failure
        breaker.provider_breaker(redis_conn, dead.id).record_failure()
    run_jobs()
    rows = _rows()
    assert {r.status for r in rows.values()} == {EmailStatus.DELIVERED}
    assert {a.provider for a in db.session.scalars(sa.select(DeliveryAttempt))} == {"backup"}
    assert breaker.provider_breaker(redis_conn, dead.id).state() == breaker.OPEN
    assert len(smtp_server.received) == 4


def test_daily_cap_holds_the_rest_back_without_attempts(app, make_user, run_jobs, smtp_server):
    user = make_user()
    providers.create(user.account_id, "capped", smtp_server.url, daily_cap=3)
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 5)
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    run_jobs()
    statuses = sorted(r.status.value for r in _rows().values())
    assert statuses == ["deferred", "deferred", "delivered", "delivered", "delivered"]
    deferred = [r for r in _rows().values() if r.status == EmailStatus.DEFERRED]
    assert all(r.attempt_count == 0 and "blocked" in r.reason for r in deferred)
    assert len(smtp_server.received) == 3


def test_open_domain_breaker_defers_only_that_domain(app, make_user, run_jobs, smtp_server, redis_conn):
    user = make_user()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 3, domain="down.example.com")
    add_subscribers(user.account_id, mailing_list.id, 3, domain="ok.example.com")
    breaker.domain_breaker(redis_conn, "down.example.com").trip(time.time())
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    run_jobs()
    rows = _rows()
    down = [r for a, r in rows.items() if a.endswith("@down.example.com")]
    ok = [r for a, r in rows.items() if a.endswith("@ok.example.com")]
    assert {r.status for r in ok} == {EmailStatus.DELIVERED}
    assert {r.status for r in down} == {EmailStatus.DEFERRED}
    assert all(r.attempt_count == 0 and "circuit breaker open" in r.reason for r in down)
    assert not smtp_server.to("user0@down.example.com")


def test_policy_blocks_open_the_domain_breaker(app, make_user, run_jobs, smtp_server, redis_conn):
    user = make_user()
    mailing_list = make_list(user.account_id)
    count = breaker.THRESHOLD + 3
    add_subscribers(user.account_id, mailing_list.id, count, domain="strict.example.com")
    for i in range(count):
        smtp_server.handler.replies[f"user{i}@strict.example.com"] = (
            "550 5.7.1 Service unavailable; client host blocked"
        )
    campaign = make_campaign(user.account_id, mailing_list.id)
    campaigns.send(user.account_id, campaign.id)
    run_jobs()
    statuses = [r.status for r in _rows().values()]
    # The first THRESHOLD replies fail (not suppressed); then the breaker holds the rest back.
    assert statuses.count(EmailStatus.FAILED) == breaker.THRESHOLD
    assert statuses.count(EmailStatus.DEFERRED) == 3
    assert breaker.domain_breaker(redis_conn, "strict.example.com").state() == breaker.OPEN
