"""Delivering webhooks for real: HTTP to a loopback receiver, retries on a fake clock, leases."""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import format_datetime

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import WebhookVerificationError

from app.extensions import db
from app.models import SentEmail, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEvent
from app.models.base import utcnow
from app.services import campaigns, webhooks
from app.webhooks import dispatch, outbox
from app.webhooks.dispatch import DEFAULT_SCHEDULE, WebhookSettings
from tests.factories import add_subscribers, make_campaign, make_list
from tests.webhooks.receiver import (  # noqa: F401
    Reply,
    private_ok_fixture,
    receiver_fixture,
    run_webhook_jobs_fixture,
    signatures,
    verify,
)

PENDING, SUCCEEDED, FAILED = (
    WebhookDeliveryStatus.PENDING,
    WebhookDeliveryStatus.SUCCEEDED,
    WebhookDeliveryStatus.FAILED,
)
SETTINGS = WebhookSettings(timeout=5.0, allow_private=True)


@pytest.fixture
def user(make_user):
    return make_user()


def _endpoint(user, receiver, path: str = "/hook", events=("email.delivered",)) -> WebhookEndpoint:
    return webhooks.create(user.account_id, receiver.url(path), list(events))


def _emit(user, event_type: str = "email.delivered", data: dict | None = None, now=None) -> list[int]:
    ids = outbox.emit(db.session, user.account_id, event_type, data or {"email_id": 1}, now=now)
    db.session.commit()
    return ids


def _drain(now=None, settings: WebhookSettings = SETTINGS) -> dispatch.DrainResult:
    result = dispatch.drain(db.session, settings, budget=30, clock=(lambda: now) if now else utcnow)
    db.session.expire_all()
    return result


def _delivery(delivery_id: int) -> WebhookDelivery:
    db.session.expire_all()
    return db.session.get(WebhookDelivery, delivery_id)


def _attempts(delivery_id: int) -> list[WebhookAttempt]:
    stmt = sa.select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.id)
    return list(db.session.scalars(stmt))


def test_a_delivery_is_signed_and_its_attempt_recorded(app, user, receiver):
    endpoint = _endpoint(user, receiver)
    receiver.script("/hook", Reply(200, body='{"thanks": true}'))
    [delivery_id] = _emit(user, data={"email_id": 42})

    assert _drain().sent == 1

    [hit] = receiver.to("/hook")
    event = db.session.scalar(sa.select(WebhookEvent))
    assert hit.headers["webhook-id"] == event.public_id
    assert hit.body == event.payload.encode()
    assert hit.headers["content-type"] == "application/json"
    assert verify(endpoint.secret, hit)["data"] == {"email_id": 42}
    delivery = _delivery(delivery_id)
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == (SUCCEEDED, 1, 200)
    assert delivery.finished_at is not None and delivery.lease_token is None
    [attempt] = _attempts(delivery_id)
    assert attempt.status_code == 200 and attempt.response_excerpt == '{"thanks": true}' and attempt.error is None
    assert attempt.request_headers["webhook-signature"] == hit.headers["webhook-signature"]
    assert attempt.url == receiver.url("/hook")


def test_the_retry_schedule_spans_a_day_and_keeps_the_webhook_id(app, user, receiver):
    endpoint = _endpoint(user, receiver)
    receiver.script("/hook", Reply(500, body="boom"))
    start = utcnow()
    [delivery_id] = _emit(user, now=start)
    now, tried_at = start, []

    while True:
        assert _drain(now - timedelta(seconds=1)).sent == 0  # never before its time
        tried_at.append(now)
        assert _drain(now).sent == 1
        delivery = _delivery(delivery_id)
        if delivery.status != PENDING:
            break
        now = delivery.next_attempt_at

    assert delivery.status == FAILED and delivery.attempt_count == len(DEFAULT_SCHEDULE) + 1 == 9
    assert "HTTP 500" in delivery.last_error and "gave up after 9 attempts" in delivery.last_error
    gaps = [(b - a).total_seconds() for a, b in zip(tried_at, tried_at[1:], strict=False)]
    for gap, base in zip(gaps, DEFAULT_SCHEDULE, strict=True):
        assert base <= gap <= base * 1.1 + 0.001  # the schedule is a floor, jitter at most 10 %
    assert tried_at[-1] - tried_at[0] >= timedelta(hours=24)
    hits = receiver.to("/hook")
    assert len(hits) == 9
    assert {hit.headers["webhook-id"] for hit in hits} == {db.session.scalar(sa.select(WebhookEvent.public_id))}
    assert len({hit.body for hit in hits}) == 1
    for hit in hits:
        verify(endpoint.secret, hit)
    assert [a.number for a in _attempts(delivery_id)] == list(range(1, 10))
    assert _drain(now + timedelta(days=30)).sent == 0


def test_410_disables_the_endpoint_and_fails_its_pending_deliveries(app, user, receiver):
    endpoint = _endpoint(user, receiver)
    receiver.script("/hook", Reply(410, body="gone"))
    ids = _emit(user) + _emit(user) + _emit(user)

    assert _drain(settings=WebhookSettings(timeout=5, allow_private=True, per_endpoint=1)).sent == 1

    assert len(receiver.to("/hook")) == 1
    db.session.refresh(endpoint)
    assert endpoint.enabled is False and "410 Gone" in endpoint.disabled_reason and endpoint.disabled_at
    assert {_delivery(i).status for i in ids} == {FAILED}
    assert "410 Gone" in _delivery(ids[0]).last_error
    assert "disabled" in _delivery(ids[1]).last_error
    assert _emit(user) == []  # a disabled endpoint receives no new events


def test_429_retry_after_is_the_floor_of_the_next_try(app, user, receiver):
    _endpoint(user, receiver)
    now = utcnow().replace(microsecond=0)
    when = now + timedelta(seconds=300)
    receiver.script(
        "/hook",
        Reply(429, headers={"Retry-After": "120"}),
        Reply(429, headers={"Retry-After": format_datetime(when, usegmt=True)}),
        Reply(429, headers={"Retry-After": "1"}),
    )
    [delivery_id] = _emit(user, now=now)

    _drain(now)
    assert _delivery(delivery_id).next_attempt_at == now + timedelta(seconds=120)
    assert "429" in _delivery(delivery_id).last_error
    now = now + timedelta(seconds=120)
    _drain(now)
    assert _delivery(delivery_id).next_attempt_at == when  # an HTTP-date
    now = when
    _drain(now)
    wait = (_delivery(delivery_id).next_attempt_at - now).total_seconds()
    assert 300 <= wait <= 330  # a shorter Retry-After than the schedule: the schedule wins
    assert len(receiver.to("/hook")) == 3


def test_a_redirect_is_never_followed(app, user, receiver):
    _endpoint(user, receiver)
    receiver.script("/hook", Reply(302, headers={"Location": receiver.url("/elsewhere")}))
    [delivery_id] = _emit(user)

    _drain()

    assert receiver.to("/elsewhere") == []
    delivery = _delivery(delivery_id)
    assert delivery.status == PENDING and delivery.last_status_code == 302
    assert "not followed" in delivery.last_error and "/elsewhere" in delivery.last_error


def test_a_refused_address_fails_the_attempt_and_waits_for_the_schedule(app, user, receiver):
    _endpoint(user, receiver)
    now = utcnow()
    [delivery_id] = _emit(user, now=now)

    _drain(now, settings=WebhookSettings(timeout=5, allow_private=False))
    _drain(now, settings=WebhookSettings(timeout=5, allow_private=False))  # no retry storm

    assert receiver.hits == []
    delivery = _delivery(delivery_id)
    [attempt] = _attempts(delivery_id)
    assert attempt.status_code is None and attempt.error.startswith("refused:") and "loopback" in attempt.error
    assert delivery.status == PENDING and delivery.attempt_count == 1
    assert 5 <= (delivery.next_attempt_at - now).total_seconds() <= 5.5


def test_a_timeout_is_a_failed_attempt(app, user, receiver):
    _endpoint(user, receiver)
    receiver.script("/hook", Reply(200, delay=3))
    [delivery_id] = _emit(user)

    started = time.monotonic()
    _drain(settings=WebhookSettings(timeout=0.5, allow_private=True))

    assert time.monotonic() - started < 2.5
    [attempt] = _attempts(delivery_id)
    assert "timed out" in attempt.error and attempt.status_code is None
    assert _delivery(delivery_id).status == PENDING


def test_a_slow_endpoint_does_not_delay_another(app, user, receiver):
    _endpoint(user, receiver, "/slow", ["email.bounced"])
    _endpoint(user, receiver, "/fast", ["email.delivered"])
    receiver.script("/slow", Reply(200, delay=1.5))
    slow = [_emit(user, "email.bounced")[0] for _ in range(4)]  # a backlog, written first
    [fast] = _emit(user, "email.delivered")

    started = time.monotonic()
    _drain(settings=WebhookSettings(timeout=5, allow_private=True, concurrency=4, per_endpoint=2))

    [hit] = receiver.to("/fast")
    assert hit.arrived - started < 1.0
    slow_hits = sorted(h.arrived - started for h in receiver.to("/slow"))
    assert len(slow_hits) == 4 and slow_hits[2] >= 1.4  # at most two requests in flight per endpoint
    # The fast endpoint's answer was recorded before any slow one's.
    assert _attempts(fast)[0].id < min(_attempts(i)[0].id for i in slow)
    assert {_delivery(i).status for i in [*slow, fast]} == {SUCCEEDED}


def test_rotation_signs_with_both_secrets_during_the_overlap_only(app, user, receiver):
    endpoint = _endpoint(user, receiver)
    old = endpoint.secret
    now = utcnow()
    rotated = webhooks.rotate_secret(user.account_id, endpoint.id, now=now)
    new = rotated.secret
    assert new != old and rotated.previous_secret_expires_at == now + timedelta(days=1)

    _emit(user)
    _drain(now + timedelta(hours=23))
    during = receiver.to("/hook")[-1]
    assert len(signatures(during)) == 2
    verify(old, during)
    verify(new, during)

    _emit(user, now=now + timedelta(hours=25))
    _drain(now + timedelta(hours=25))
    after = receiver.to("/hook")[-1]
    assert len(signatures(after)) == 1
    verify(new, after)
    with pytest.raises(WebhookVerificationError):
        verify(old, after)


def test_claims_never_share_a_delivery_and_cap_each_endpoint(app, user, receiver):
    _endpoint(user, receiver, "/a")
    _endpoint(user, receiver, "/b", ["email.bounced"])
    for _ in range(3):
        _emit(user)
    [other] = _emit(user, "email.bounced")
    settings = WebhookSettings(timeout=5, allow_private=True, per_endpoint=2)
    now = utcnow()

    first = dispatch.claim(db.session, settings, limit=2, now=now)
    second = dispatch.claim(db.session, settings, limit=10, now=now)
    third = dispatch.claim(db.session, settings, limit=10, now=now)

    claimed = [r.delivery_id for r in first + second]
    assert len(claimed) == len(set(claimed)) == 3 and third == []
    assert other in claimed
    by_endpoint = {}
    for request in first + second:
        by_endpoint[request.endpoint_id] = by_endpoint.get(request.endpoint_id, 0) + 1
    assert sorted(by_endpoint.values()) == [1, 2]  # the third /a delivery waits for a free slot


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_write(app, user, receiver):
    _endpoint(user, receiver)
    [delivery_id] = _emit(user)
    now = utcnow()

    [lost] = dispatch.claim(db.session, SETTINGS, limit=1, now=now)
    assert dispatch.claim(db.session, SETTINGS, limit=1, now=now) == []
    later = now + timedelta(seconds=SETTINGS.lease_seconds + 1)
    [taken] = dispatch.claim(db.session, SETTINGS, limit=1, now=later)
    assert taken.delivery_id == lost.delivery_id and taken.token != lost.token

    ok = dispatch.Result(response=dispatch.client.Response(200, {}, "ok", 3), elapsed_ms=3)
    assert dispatch.record(db.session, SETTINGS, lost, ok, now=later) is None
    assert _delivery(delivery_id).status == PENDING
    assert dispatch.record(db.session, SETTINGS, taken, ok, now=later) == SUCCEEDED
    assert len(_attempts(delivery_id)) == 2  # both requests happened, both are on record


def test_a_campaign_sends_signed_email_webhooks_with_its_data(
    app, user, receiver, smtp_server, run_jobs, run_webhook_jobs
):
    endpoint = _endpoint(user, receiver, events=["email.delivered", "email.bounced"])
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 3)
    smtp_server.handler.replies["user1@example.com"] = "550 5.1.1 <user1@example.com>: user unknown"
    campaign = make_campaign(user.account_id, mailing_list.id)

    campaigns.send(user.account_id, campaign.id)
    run_jobs()
    assert receiver.hits == []  # the e-mail workers never run webhook jobs
    assert run_webhook_jobs() >= 1

    hits = receiver.to("/hook")
    payloads = {p["data"]["recipient"]: p for p in (verify(endpoint.secret, hit) for hit in hits)}
    assert sorted(payloads) == ["user0@example.com", "user1@example.com", "user2@example.com"]
    rows = {row.recipient: row for row in db.session.scalars(sa.select(SentEmail))}
    for recipient, payload in payloads.items():
        row = rows[recipient]
        expected = "email.bounced" if recipient == "user1@example.com" else "email.delivered"
        assert payload["type"] == expected
        assert payload["data"]["email_id"] == row.id
        assert payload["data"]["message_id"] == row.message_id
        assert payload["data"]["campaign_id"] == campaign.id
        assert payload["data"]["status"] == row.status.value
    bounced = payloads["user1@example.com"]["data"]
    assert (bounced["smtp_code"], bounced["enhanced_code"]) == (550, "5.1.1")
    assert "user unknown" in bounced["reason"]
    assert len({hit.headers["webhook-id"] for hit in hits}) == 3
    assert {d.status for d in db.session.scalars(sa.select(WebhookDelivery))} == {SUCCEEDED}


def test_prune_deletes_old_finished_deliveries_only(app, user, receiver):
    _endpoint(user, receiver)
    [done] = _emit(user)
    _drain()
    receiver.script("/hook", Reply(500))
    [waiting] = _emit(user)
    _drain()

    assert dispatch.prune(db.session, utcnow() - timedelta(days=1)) == 0
    assert dispatch.prune(db.session, utcnow() + timedelta(seconds=10)) == 1

    db.session.expire_all()
    assert db.session.get(WebhookDelivery, done) is None and _attempts(done) == []
    assert db.session.get(WebhookDelivery, waiting).status == PENDING
    assert db.session.scalar(sa.select(sa.func.count(WebhookEvent.id))) == 1


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="WEBHOOK_TIMEOUT"):
        WebhookSettings(timeout=0)
    with pytest.raises(ValueError, match="WEBHOOK_PER_ENDPOINT"):
        WebhookSettings(per_endpoint=0)
