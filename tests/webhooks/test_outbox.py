"""The outbox: events written in the caller's transaction, by the ledger and the services."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq import Queue

from app.delivery import bounces, ledger
from app.extensions import db
from app.jobs import webhooks as webhook_jobs
from app.models import (
    EmailEvent,
    EmailKind,
    EmailStatus,
    SentEmail,
    Subscriber,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEvent,
)
from app.models.base import utcnow
from app.services import subscribers, webhooks
from app.webhooks import outbox
from tests.factories import add_subscribers, make_list

ALL = list(outbox.EVENT_TYPES)


def _email(account_id: int, status: EmailStatus = EmailStatus.SENDING, recipient: str = "ann@example.com") -> SentEmail:
    now = utcnow()
    row = SentEmail(
        account_id=account_id,
        recipient=recipient,
        kind=EmailKind.TRANSACTIONAL,
        status=status,
        message_id=f"<{recipient}.{now.timestamp()}@test>",
        lease_token="lease",
        created_at=now,
        updated_at=now,
    )
    db.session.add(row)
    db.session.commit()
    return row


def _events(event_type: str | None = None) -> list[dict]:
    stmt = sa.select(WebhookEvent).order_by(WebhookEvent.id)
    if event_type:
        stmt = stmt.where(WebhookEvent.type == event_type)
    return [json.loads(e.payload) for e in db.session.scalars(stmt)]


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _webhook_jobs(app) -> int:
    return Queue(app.config["WEBHOOK_QUEUE"], connection=app.extensions["redis"]).count


@pytest.fixture
def user(make_user):
    return make_user()


def test_no_subscribed_endpoint_writes_nothing(app, user, make_user):
    other = make_user("other@example.com")
    webhooks.create(other.account_id, "https://hooks.example.com/a", ALL)  # another account's
    webhooks.create(user.account_id, "https://hooks.example.com/b", ["email.bounced"])  # another type
    webhooks.create(user.account_id, "https://hooks.example.com/c", ALL, enabled=False)  # disabled

    assert outbox.emit(db.session, user.account_id, "email.delivered", {"email_id": 1}) == []
    db.session.commit()

    assert _count(WebhookEvent) == 0 and _count(WebhookDelivery) == 0
    assert _webhook_jobs(app) == 0


def test_emit_writes_one_event_and_a_delivery_per_subscribed_endpoint(app, user):
    a = webhooks.create(user.account_id, "https://hooks.example.com/a", ["email.delivered"])
    b = webhooks.create(user.account_id, "https://hooks.example.com/b", ALL)
    now = utcnow()

    ids = outbox.emit(db.session, user.account_id, "email.delivered", {"email_id": 7}, now=now)
    db.session.commit()

    event = db.session.scalar(sa.select(WebhookEvent))
    assert event.public_id.startswith("msg_") and len(event.public_id) > 20
    assert json.loads(event.payload) == {
        "type": "email.delivered",
        "timestamp": now.isoformat(),
        "data": {"email_id": 7},
    }
    deliveries = db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [d.id for d in deliveries] == ids
    assert sorted(d.endpoint_id for d in deliveries) == sorted([a.id, b.id])
    assert {(d.status, d.attempt_count, d.event_id) for d in deliveries} == {
        (WebhookDeliveryStatus.PENDING, 0, event.id)
    }
    assert _webhook_jobs(app) == 1  # the doorbell rang after the commit, on the webhook queue only
    assert Queue(app.config["RQ_QUEUE"], connection=app.extensions["redis"]).count == 0


def test_a_rollback_leaves_no_event_and_rings_nothing(app, user):
    webhooks.create(user.account_id, "https://hooks.example.com/a", ALL)

    assert outbox.emit(db.session, user.account_id, "email.delivered", {"email_id": 1})
    db.session.rollback()
    db.session.commit()  # a later, empty commit must not ring for the rolled-back event

    assert _count(WebhookEvent) == 0 and _count(WebhookDelivery) == 0
    assert _webhook_jobs(app) == 0


def test_the_doorbell_enqueues_one_job_however_many_commits(app, user):
    webhooks.create(user.account_id, "https://hooks.example.com/a", ALL)
    for number in range(5):
        outbox.emit(db.session, user.account_id, "email.delivered", {"email_id": number})
        db.session.commit()

    assert _count(WebhookDelivery) == 5
    assert _webhook_jobs(app) == 1


def test_unknown_event_types_are_refused(app, user):
    with pytest.raises(ValueError, match="unknown webhook event type"):
        outbox.emit(db.session, user.account_id, "email.exploded", {})


@pytest.mark.parametrize(
    ("target", "event_type"),
    [
        (EmailStatus.DELIVERED, "email.delivered"),
        (EmailStatus.DEFERRED, "email.deferred"),
        (EmailStatus.BOUNCED, "email.bounced"),
        (EmailStatus.FAILED, "email.failed"),
    ],
)
def test_transition_and_settle_emit_the_email_event(app, user, target, event_type):
    webhooks.create(user.account_id, "https://hooks.example.com/a", ALL)
    first, second = _email(user.account_id), _email(user.account_id, recipient="bob@example.com")
    facts = {"smtp_code": 550, "enhanced_code": "5.1.1"}

    ledger.transition(db.session, [first.id], target, target.value, values={"reason": "why"}, facts=facts)
    ledger.settle(db.session, second.id, "lease", target, target.value, values={"reason": "why"}, facts=facts)
    db.session.commit()

    events = _events()
    assert [e["type"] for e in events] == [event_type, event_type]
    for event, email in zip(events, (first, second), strict=True):
        data = event["data"]
        assert data["email_id"] == email.id
        assert data["message_id"] == email.message_id
        assert data["recipient"] == email.recipient
        assert data["campaign_id"] is None and data["status"] == target.value
        if target != EmailStatus.DELIVERED:
            assert (data["smtp_code"], data["enhanced_code"], data["reason"]) == (550, "5.1.1", "why")


def test_moves_without_an_event_type_write_nothing(app, user):
    webhooks.create(user.account_id, "https://hooks.example.com/a", ALL)
    email = _email(user.account_id)

    ledger.transition(db.session, [email.id], EmailStatus.SUPPRESSED, "suppressed")
    ledger.transition(db.session, [email.id], EmailStatus.DELIVERED, "delivered")  # not allowed: no move
    db.session.commit()

    assert _count(WebhookEvent) == 0


def test_a_rolled_back_status_change_leaves_no_event(app, user):
    webhooks.create(user.account_id, "https://hooks.example.com/a", ALL)
    email = _email(user.account_id)

    ledger.transition(db.session, [email.id], EmailStatus.DELIVERED, "delivered")
    db.session.rollback()

    assert _count(WebhookEvent) == 0 and _count(WebhookDelivery) == 0
    assert db.session.get(SentEmail, email.id).status == EmailStatus.SENDING


def _statements(app, work) -> list[str]:
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        work()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return seen


def test_the_hot_path_costs_one_query_without_a_subscribed_endpoint(app, user):
    webhooks.create(user.account_id, "https://hooks.example.com/a", ["subscriber.confirmed"])
    email_id = _email(user.account_id).id
    db.session.connection()  # the transaction is open before counting

    seen = _statements(app, lambda: outbox.email_status_changed(db.session, [email_id], EmailStatus.DELIVERED))
    assert len(seen) == 1 and "webhook_endpoints" in seen[0]

    seen = _statements(app, lambda: outbox.email_status_changed(db.session, [email_id], EmailStatus.SUPPRESSED))
    assert seen == []  # a status without an event type costs nothing


def test_without_facts_a_bounce_reports_the_latest_attempt(app, user):
    from app.models import DeliveryAttempt, Outcome

    webhooks.create(user.account_id, "https://hooks.example.com/a", ALL)
    email = _email(user.account_id)
    for number, (code, enhanced) in enumerate([(451, "4.7.1"), (550, "5.1.1")], start=1):
        db.session.add(
            DeliveryAttempt(
                email_id=email.id,
                number=number,
                started_at=utcnow(),
                provider="default",
                host="mx.test",
                smtp_code=code,
                enhanced_code=enhanced,
                response="",
                outcome=Outcome.BOUNCED,
            )
        )
    db.session.flush()

    ledger.transition(db.session, [email.id], EmailStatus.BOUNCED, "bounced", values={"reason": "user unknown"})
    db.session.commit()

    data = _events("email.bounced")[0]["data"]
    assert (data["smtp_code"], data["enhanced_code"], data["reason"]) == (550, "5.1.1", "user unknown")


def test_subscriber_confirmed_and_unsubscribed(app, user):
    webhooks.create(user.account_id, "https://hooks.example.com/a", ["subscriber.confirmed", "subscriber.unsubscribed"])
    mailing_list = make_list(user.account_id)
    pending = add_subscribers(user.account_id, mailing_list.id, 1, status="pending")[0]
    assert _count(WebhookEvent) == 0  # adding a pending subscriber is no event

    subscribers.update(user.account_id, pending.id, status="confirmed")
    subscribers.update(user.account_id, pending.id, status="unsubscribed")

    confirmed, unsubscribed = _events()
    assert confirmed["type"] == "subscriber.confirmed"
    assert confirmed["data"] == {
        "subscriber_id": pending.id,
        "list_id": mailing_list.id,
        "email": "user0@example.com",
        "name": "User 0",
        "status": "confirmed",
    }
    assert unsubscribed["type"] == "subscriber.unsubscribed" and unsubscribed["data"]["status"] == "unsubscribed"


def test_the_public_confirm_and_unsubscribe_links_emit(app, user, client):
    from app import links

    webhooks.create(user.account_id, "https://hooks.example.com/a", ALL)
    mailing_list = make_list(user.account_id)
    subscribers.subscribe(mailing_list.public_id, "new@example.com", "New")
    subscriber = db.session.scalar(sa.select(Subscriber))
    secret = app.config["SECRET_KEY"]

    token = links.confirm_token(secret, subscriber.id, mailing_list.id, subscriber.confirm_nonce)
    assert subscribers.confirm(token) is not None
    token = links.unsubscribe_token(secret, subscriber.id, mailing_list.id)
    assert client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"}).status_code < 400

    assert [e["type"] for e in _events()] == ["subscriber.confirmed", "subscriber.unsubscribed"]
    assert {e["data"]["email"] for e in _events()} == {"new@example.com"}


COMPLAINT = b"""From: fbl@isp.example
To: bounces@postroom.test
Subject: complaint
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b"

--b
Content-Type: text/plain

This is an abuse report.
--b
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ISP-FBL/1.0
Version: 1
Original-Rcpt-To: ann@example.com

--b
Content-Type: message/rfc822

Message-ID: MESSAGE_ID
Subject: hello

hi
--b--
"""


def test_a_complaint_emits_email_complained_once(app, user):
    webhooks.create(user.account_id, "https://hooks.example.com/a", ["email.complained"])
    email = _email(user.account_id, status=EmailStatus.DELIVERED)
    report = COMPLAINT.replace(b"MESSAGE_ID", email.message_id.encode())

    bounces.apply_report(db.session, app.config["SECRET_KEY"], "bounces@postroom.test", report)
    bounces.apply_report(db.session, app.config["SECRET_KEY"], "bounces@postroom.test", report)  # a duplicate

    [event] = _events()
    assert event["type"] == "email.complained"
    assert event["data"]["email_id"] == email.id and event["data"]["recipient"] == "ann@example.com"
    assert event["data"]["status"] == "delivered" and event["data"]["feedback_type"] == "abuse"
    assert db.session.scalar(sa.select(sa.func.count(EmailEvent.id)).where(EmailEvent.type == "complained")) == 1


DSN = b"""From: MAILER-DAEMON@mx.example
To: bounces@postroom.test
Subject: Undelivered Mail
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Your message could not be delivered.
--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; ann@example.com
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <ann@example.com>: mailbox unknown

--b
Content-Type: text/rfc822-headers

Message-ID: MESSAGE_ID
Subject: hello

--b--
"""


def test_an_asynchronous_bounce_emits_email_bounced_with_the_dsn_codes(app, user):
    webhooks.create(user.account_id, "https://hooks.example.com/a", ["email.bounced"])
    email = _email(user.account_id, status=EmailStatus.DELIVERED)

    bounces.apply_report(
        db.session,
        app.config["SECRET_KEY"],
        "bounces@postroom.test",
        DSN.replace(b"MESSAGE_ID", email.message_id.encode()),
    )

    [event] = _events()
    assert event["type"] == "email.bounced"
    assert (event["data"]["smtp_code"], event["data"]["enhanced_code"]) == (550, "5.1.1")
    assert "mailbox unknown" in event["data"]["reason"] and event["data"]["status"] == "bounced"


def test_the_sweep_rings_for_due_deliveries_only(app, user):
    endpoint = webhooks.create(user.account_id, "https://hooks.example.com/a", ALL)
    outbox.emit(db.session, user.account_id, "email.delivered", {})
    db.session.commit()
    app.extensions["redis"].flushdb()  # the bell was lost

    assert webhook_jobs.redrive() is True
    assert _webhook_jobs(app) == 1

    app.extensions["redis"].flushdb()
    db.session.execute(sa.update(WebhookDelivery).values(next_attempt_at=utcnow() + timedelta(minutes=5)))
    db.session.commit()
    assert webhook_jobs.redrive() is False
    webhooks.update(user.account_id, endpoint.id, enabled=False)
    db.session.execute(sa.update(WebhookDelivery).values(next_attempt_at=utcnow()))
    db.session.commit()
    assert webhook_jobs.redrive() is False  # a disabled endpoint's deliveries wait
    assert _webhook_jobs(app) == 0
    assert db.session.scalar(sa.select(WebhookEndpoint.enabled)) is False


def test_the_maintenance_job_redrives_and_prunes(app, user):
    from app.jobs import tasks

    webhooks.create(user.account_id, "https://hooks.example.com/a", ALL)
    outbox.emit(db.session, user.account_id, "email.delivered", {})
    db.session.execute(
        sa.update(WebhookDelivery).values(
            status=WebhookDeliveryStatus.SUCCEEDED, updated_at=utcnow() - timedelta(days=40)
        )
    )
    db.session.execute(sa.update(WebhookEvent).values(created_at=utcnow() - timedelta(days=40)))
    outbox.emit(db.session, user.account_id, "email.bounced", {})
    db.session.commit()
    app.extensions["redis"].flushdb()  # the bell was lost

    tasks.maintenance()

    assert _webhook_jobs(app) == 1
    assert [e["type"] for e in _events()] == ["email.bounced"]  # the old, finished one is pruned
    assert _count(WebhookDelivery) == 1
