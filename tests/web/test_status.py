"""The status page: live queues, workers, breakers, buckets, providers; only the account's own mail."""

from __future__ import annotations

import secrets

import pytest
from rq import Queue

from app.delivery.breaker import Breaker
from app.delivery.ratelimit import TokenBucket
from app.extensions import db
from app.models import DeliveryAttempt, EmailKind, EmailStatus, Outcome, SentEmail
from app.models.base import utcnow
from app.services import providers
from tests.conftest import PASSWORD


@pytest.fixture
def owner(make_user, auth):
    user = make_user()
    auth.login()
    return user


def add_email(account_id: int, recipient: str, status=EmailStatus.DEFERRED, reply=None) -> SentEmail:
    """A send-log row; with ``reply`` (code, enhanced, text, outcome) one attempt too."""
    email = SentEmail(
        account_id=account_id,
        recipient=recipient,
        kind=EmailKind.TRANSACTIONAL,
        status=status,
        message_id=f"<{secrets.token_hex(8)}@test>",
    )
    db.session.add(email)
    db.session.flush()
    if reply:
        code, enhanced, text, outcome = reply
        db.session.add(
            DeliveryAttempt(
                email_id=email.id,
                number=1,
                started_at=utcnow(),
                provider="default",
                host="mx.test:25",
                smtp_code=code,
                enhanced_code=enhanced,
                response=text,
                outcome=outcome,
                duration_ms=3,
            )
        )
    db.session.commit()
    return email


def test_the_page_needs_a_login(client):
    for url in ("/status", "/status/live"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_page_polls_its_fragment_every_five_seconds(client, owner):
    page = client.get("/status")

    assert page.status_code == 200
    assert 'aria-current="page">Status' in page.text
    assert 'hx-get="/status/live"' in page.text and 'hx-trigger="every 5s"' in page.text
    assert 'hx-swap="outerHTML"' in page.text
    fragment = client.get("/status/live")
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="status"')
    assert "<html" not in fragment.text and 'hx-get="/status/live"' in fragment.text


def test_queue_depth_workers_and_the_default_provider(client, owner, app, redis_conn):
    queue = Queue(app.config["RQ_QUEUE"], connection=redis_conn)
    for _ in range(3):
        queue.enqueue("app.jobs.tasks.maintenance")

    text = client.get("/status/live").text

    assert "<strong>3</strong><span>jobs queued</span>" in text
    assert "<strong>0</strong><span>jobs failed</span>" in text
    assert "No worker is running" in text
    assert "(instance default)" in text  # the account has no providers of its own


def test_providers_show_breaker_and_today(client, owner, redis_conn):
    relay = providers.create(owner.account_id, "relay-a", "smtp://u:pw@relay.test:25", max_per_second=5)
    Breaker(redis_conn, f"provider:{relay.id}", threshold=1).record_failure()
    TokenBucket(redis_conn, f"provider:{relay.id}", 5, 5).take(2)

    text = client.get("/status/live").text

    assert "relay-a" in text and "(instance default)" not in text
    assert "badge-breaker-open" in text
    assert "provider</span> relay-a" in text
    assert "5/s" in text and "tokens" in text
    assert "pw@" not in text


def test_failures_breakers_and_buckets_are_the_accounts_own(client, auth, owner, make_user, redis_conn):
    mine = add_email(owner.account_id, "me@mine.test", reply=(None, None, "connection refused", Outcome.DEFERRED))
    add_email(
        owner.account_id, "bounced@mine.test", EmailStatus.BOUNCED, (550, "5.1.1", "no such user", Outcome.BOUNCED)
    )
    add_email(owner.account_id, "ok@mine.test", EmailStatus.DELIVERED, (250, "2.0.0", "queued as 1", Outcome.DELIVERED))
    add_email(owner.account_id, "later@pending.test", EmailStatus.QUEUED)
    other = make_user("other@example.com").account_id
    add_email(other, "ceo@secret-client.test", reply=(421, "4.7.0", "their failure", Outcome.DEFERRED))
    for domain in ("mine.test", "pending.test", "secret-client.test"):
        Breaker(redis_conn, f"domain:{domain}", threshold=1).record_failure()
        TokenBucket(redis_conn, f"domain:{domain}", 50, 50).take()

    text = client.get("/status/live").text

    assert f'href="/emails/{mine.id}"' in text
    assert "connection refused" in text and "no such user" in text
    assert "queued as 1" not in text  # delivered attempts are not failures
    # One breaker and one bucket row each.
    assert text.count("domain</span> mine.test") == 2 and text.count("domain</span> pending.test") == 2
    assert "secret-client" not in text and "their failure" not in text

    auth.logout()
    auth.login("other@example.com", PASSWORD)
    theirs = client.get("/status/live").text
    assert "secret-client.test" in theirs and "their failure" in theirs
    assert "mine.test" not in theirs and "pending.test" not in theirs


def test_redis_down_is_reported_not_a_crash(client, owner, app, monkeypatch):
    import redis

    add_email(owner.account_id, "me@mine.test", reply=(None, None, "connection refused", Outcome.DEFERRED))
    monkeypatch.setitem(app.extensions, "redis", redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))

    page = client.get("/status")

    assert page.status_code == 200
    assert "Redis is unavailable" in page.text
    assert "connection refused" in page.text  # the database part still shows
