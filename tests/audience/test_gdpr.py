"""GDPR: export everything held about one person, and erase it without breaking the ledger."""

from __future__ import annotations

import json
from datetime import date, datetime
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import (
    DeliveryAttempt,
    EmailClick,
    EmailEvent,
    EmailOpen,
    EmailStatus,
    ErasedAddress,
    Role,
    SentEmail,
    Subscriber,
    SubscriberStatus,
    Suppression,
    WebhookEvent,
)
from app.services import accounts, audience, campaigns, lists, subscribers
from app.services.errors import Conflict
from tests.audience.conftest import ANN, post

SECRETS = (ANN, quote(ANN, safe=""), "ann person", "ann's phone", "203.0.113", "ann person paid")


def _everything() -> list[tuple[str, str, str]]:
    """Every value of every column of every table, as lower-case text: (table, column, value)."""
    db.session.expire_all()
    found = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sa.select(table)).mappings():
            for column, value in row.items():
                if value is None or isinstance(value, (int, float, bool, datetime, date)):
                    continue
                if isinstance(value, bytes):
                    text = value.decode("utf-8", "replace")
                elif isinstance(value, (dict, list)):
                    text = json.dumps(value)
                else:
                    text = str(value)
                found.append((table.name, column, text.lower()))
    return found


def _traces() -> list[tuple[str, str, str]]:
    return [(t, c, v) for t, c, v in _everything() if any(secret in v for secret in SECRETS)]


def _ledger(person) -> dict:
    db.session.expire_all()
    count = lambda model: db.session.scalar(sa.select(sa.func.count()).select_from(model))  # noqa: E731
    return {
        "a": campaigns.stats(person.campaign_a),
        "b": campaigns.stats(person.campaign_b),
        "rows": [count(m) for m in (SentEmail, DeliveryAttempt, EmailEvent, EmailOpen, EmailClick, WebhookEvent)],
        "statuses": list(db.session.execute(sa.select(SentEmail.id, SentEmail.status).order_by(SentEmail.id))),
    }


def test_the_export_is_a_download_of_everything_about_the_person(person, colleague, signed_in):
    colleague("support@example.com", Role.SUPPORT)
    client = signed_in("support@example.com")  # looking is not changing: support may export

    response = client.get(f"/subscribers/{person.subscriber_a}/export.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert (
        response.headers["Content-Disposition"] == f'attachment; filename="subscriber-{person.subscriber_a}-data.json"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    assert data["address"] == ANN
    assert {s["list"] for s in data["subscribers"]} == {"Newsletter", "Offers"}
    assert all(s["name"] == "Ann Person" and "confirm_nonce" not in s for s in data["subscribers"])
    emails = {e["id"]: e for e in data["emails"]}
    assert set(emails) == {person.delivered, person.bounced, person.transactional}
    delivered = emails[person.delivered]
    assert delivered["status"] == "delivered" and delivered["campaign"] == "Hello there"
    assert delivered["attempts"][0]["smtp_code"] == 250
    assert {"delivered", "opened", "clicked"} <= {e["type"] for e in delivered["events"]}
    assert delivered["opens"][0]["user_agent"] == "Mozilla/5.0 (Ann's phone)"
    assert delivered["clicks"][0]["url"] == "https://example.com/news"
    assert "User unknown" in emails[person.bounced]["attempts"][0]["response"]
    content = emails[person.transactional]["content"]
    assert content["to_name"] == "Ann Person" and content["meta"] == {"customer": ANN}
    assert content["attachments"][0]["filename"] == "receipt.txt"
    assert [s["reason"] for s in data["suppressions"]] == ["hard_bounce"]
    types = {e["type"] for e in data["webhook_events"]}
    assert {"email.delivered", "email.bounced", "email.opened"} <= types
    text = response.text
    assert "user0@example.com" not in text and "lease_token" not in text and "account_id" not in text


def test_erasing_leaves_no_trace_of_the_person_and_the_ledger_adds_up(person, signed_in):
    assert len(_traces()) > 20  # the fixture really spread her data around
    before = _ledger(person)
    others = db.session.scalar(sa.select(sa.func.count(Subscriber.id)).where(Subscriber.email != ANN))
    client = signed_in("admin@example.com")
    page = client.get(f"/subscribers/{person.subscriber_b}/erase")
    assert page.status_code == 200 and "Newsletter" in page.text and "Offers" in page.text

    response = post(client, f"/subscribers/{person.subscriber_b}/erase", {"confirm": " ANN@example.com "})

    assert response.status_code == 302 and response.headers["Location"] == "/subscribers"
    assert _traces() == []
    after = _ledger(person)
    assert after == before
    assert db.session.scalar(sa.select(sa.func.count(Subscriber.id))) == others
    erased = db.session.scalars(sa.select(SentEmail).where(SentEmail.recipient == audience.ERASED)).all()
    assert {e.id for e in erased} == {person.delivered, person.bounced, person.transactional}
    assert all(e.subscriber_id is None for e in erased)
    bounce = db.session.get(SentEmail, person.bounced)
    assert bounce.reason == f"5.1.1 <{audience.ERASED}>: Recipient address rejected: User unknown"
    assert db.session.scalar(sa.select(DeliveryAttempt.smtp_code).where(DeliveryAttempt.email_id == bounce.id)) == 550
    assert db.session.scalar(sa.select(sa.func.count(Suppression.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(ErasedAddress.id))) == 1
    flash = client.get("/subscribers").text
    assert "Erased: 2 subscription(s) deleted, 3 e-mail(s) kept" in flash and ANN not in flash


def test_an_erased_address_cannot_be_added_again_but_may_subscribe_itself(person, admin, signed_in, client):
    admin_client = signed_in("admin@example.com")
    post(admin_client, f"/subscribers/{person.subscriber_a}/erase", {"confirm": ANN})

    with pytest.raises(Conflict, match="erased at its owner's request"):
        subscribers.add(person.account_id, person.list_a, ANN.upper())
    page = post(
        admin_client, f"/lists/{person.list_a}/subscribers", {"email": ANN, "name": "Ann", "status": "confirmed"}
    )
    assert "erased at its owner" in admin_client.get(page.headers["Location"]).text
    _, token = accounts.issue_token(admin, "t")
    api = admin_client.post(
        f"/api/v1/lists/{person.list_a}/subscribers",
        json={"email": ANN, "name": "Ann", "status": "confirmed"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 409 and "erased" in api.get_json()["error"]["message"]
    assert db.session.scalar(sa.select(Subscriber.id).where(Subscriber.email == ANN)) is None

    public_id = lists.get(person.account_id, person.list_a).public_id
    assert client.post(f"/s/{public_id}", data={"email": ANN, "name": "Ann"}).status_code == 200
    back = db.session.scalar(sa.select(Subscriber).where(Subscriber.email == ANN))
    assert back is not None and back.status == SubscriberStatus.CONFIRMED  # her own, new consent
    # Another account never met her: the tombstone is per account.
    assert not audience.is_erased(person.account_id + 1, ANN)


def test_mail_not_yet_sent_is_cancelled_and_mail_leaving_now_blocks_the_erase(admin, signed_in):
    mailing_list = lists.create(admin.account_id, "Double", "", True)
    pending = subscribers.add(admin.account_id, mailing_list.id, ANN, "Ann", "pending")  # a queued confirmation
    confirmation = db.session.scalar(sa.select(SentEmail).where(SentEmail.subscriber_id == pending.id))
    client = signed_in("admin@example.com")

    confirmation.status = EmailStatus.SENDING
    db.session.commit()
    refused = post(client, f"/subscribers/{pending.id}/erase", {"confirm": ANN})
    assert refused.status_code == 409 and "being handed to a mail server" in refused.text
    db.session.expire_all()
    assert db.session.get(Subscriber, pending.id) is not None
    assert db.session.get(SentEmail, confirmation.id).recipient == ANN

    confirmation.status = EmailStatus.QUEUED
    db.session.commit()
    assert post(client, f"/subscribers/{pending.id}/erase", {"confirm": ANN}).status_code == 302
    db.session.expire_all()
    email = db.session.get(SentEmail, confirmation.id)
    assert email.status == EmailStatus.CANCELLED and email.recipient == audience.ERASED
    assert [e.type for e in email.stored_events] == ["cancelled"]


def test_a_mistyped_confirmation_erases_nothing(person, signed_in):
    client = signed_in("admin@example.com")
    before = _everything()

    response = post(client, f"/subscribers/{person.subscriber_a}/erase", {"confirm": "ann@example.org"})

    assert response.status_code == 422 and "exactly to confirm" in response.text
    assert _everything() == before
