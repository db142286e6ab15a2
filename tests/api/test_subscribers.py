"""Subscribers over the API: add (pending ones get the confirmation e-mail), list, change, delete."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import SentEmail, Subscriber
from tests.factories import add_subscribers, make_campaign, make_list


@pytest.fixture
def news(owner):
    return make_list(owner.account_id)


def _counts() -> tuple[int, int]:
    return (
        db.session.scalar(sa.select(sa.func.count(Subscriber.id))),
        db.session.scalar(sa.select(sa.func.count(SentEmail.id))),
    )


def test_add_confirmed_subscriber(api, news, run_jobs, smtp_server):
    response = api.post(f"/api/v1/lists/{news.id}/subscribers", json={"email": "Ann@Example.COM", "name": "Ann"})

    assert response.status_code == 201
    body = response.get_json()
    assert (body["email"], body["name"], body["status"]) == ("ann@example.com", "Ann", "confirmed")
    assert body["list_id"] == news.id
    assert body["confirmed_at"] is not None and body["unsubscribed_at"] is None
    run_jobs()
    assert smtp_server.received == []


def test_add_pending_subscriber_sends_the_confirmation(api, news, run_jobs, smtp_server):
    response = api.post(f"/api/v1/lists/{news.id}/subscribers", json={"email": "bob@example.com", "status": "pending"})

    assert response.status_code == 201
    assert (response.get_json()["status"], response.get_json()["confirmed_at"]) == ("pending", None)
    run_jobs()
    assert [r.rcpt_tos for r in smtp_server.received] == [["bob@example.com"]]
    assert smtp_server.received[0].message["Subject"] == "Confirm your subscription to Newsletter"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"email": "not-an-address"}, 422, "email"),
        ({"email": "a@example.com\r\nBcc: x@example.com"}, 422, "email"),
        ({"email": "a@example.com", "name": "Ann\r\nBcc: x@example.com"}, 422, "name"),
        ({"email": "a@example.com", "status": "unsubscribed"}, 422, "status"),
        ({"email": "a@example.com", "shoe_size": 9}, 422, "shoe_size"),
        ({"name": "Nobody"}, 422, "email"),
        ({"email": "dup@example.com"}, 409, "email"),
    ],
)
def test_invalid_subscribers_change_nothing(api, news, owner, run_jobs, smtp_server, body, status, field):
    add_subscribers(owner.account_id, news.id, 1, domain="x.example.com")
    api.post(f"/api/v1/lists/{news.id}/subscribers", json={"email": "dup@example.com", "status": "pending"})
    run_jobs()
    before = _counts()

    response = api.post(f"/api/v1/lists/{news.id}/subscribers", json=body)

    assert response.status_code == status
    assert response.get_json()["error"]["field"] == field
    assert _counts() == before
    run_jobs()
    assert len(smtp_server.received) == 1  # only dup@'s own confirmation


def test_subscribers_are_paged_and_filtered_by_status(api, news, owner):
    add_subscribers(owner.account_id, news.id, 3)
    pending = add_subscribers(owner.account_id, news.id, 2, domain="p.example.com", status="pending")

    everyone = api.get(f"/api/v1/lists/{news.id}/subscribers?limit=4").get_json()
    rest = api.get(f"/api/v1/lists/{news.id}/subscribers?limit=4&cursor={everyone['next_cursor']}").get_json()
    only_pending = api.get(f"/api/v1/lists/{news.id}/subscribers?status=pending").get_json()

    assert len(everyone["data"]) == 4 and len(rest["data"]) == 1 and rest["next_cursor"] is None
    assert [s["id"] for s in only_pending["data"]] == sorted((s.id for s in pending), reverse=True)
    bad = api.get(f"/api/v1/lists/{news.id}/subscribers?status=bogus")
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "status"


def test_get_update_and_unsubscribe(api, news, owner):
    subscriber = add_subscribers(owner.account_id, news.id, 1)[0]

    assert api.get(f"/api/v1/subscribers/{subscriber.id}").get_json()["email"] == "user0@example.com"
    renamed = api.patch(f"/api/v1/subscribers/{subscriber.id}", json={"name": "Zed"}).get_json()
    gone = api.patch(f"/api/v1/subscribers/{subscriber.id}", json={"status": "unsubscribed"}).get_json()

    assert (renamed["name"], renamed["status"]) == ("Zed", "confirmed")
    assert (gone["name"], gone["status"]) == ("Zed", "unsubscribed")
    assert gone["unsubscribed_at"] is not None


@pytest.mark.parametrize(
    "body", [{"name": "Zed\nBcc: x@example.com"}, {"status": "gone"}, {"email": "new@example.com"}]
)
def test_invalid_subscriber_update_changes_nothing(api, news, owner, body):
    subscriber = add_subscribers(owner.account_id, news.id, 1)[0]

    response = api.patch(f"/api/v1/subscribers/{subscriber.id}", json=body)

    assert response.status_code == 422
    db.session.expire_all()
    assert (subscriber.name, subscriber.status.value, subscriber.email) == ("User 0", "confirmed", "user0@example.com")


def test_delete_subscriber(api, news, owner):
    subscriber = add_subscribers(owner.account_id, news.id, 1)[0]

    assert api.delete(f"/api/v1/subscribers/{subscriber.id}").status_code == 204
    assert api.get(f"/api/v1/subscribers/{subscriber.id}").status_code == 404


def test_a_subscriber_with_sent_emails_cannot_be_deleted(api, news, owner, run_jobs):
    subscriber = add_subscribers(owner.account_id, news.id, 1)[0]
    campaign = make_campaign(owner.account_id, news.id)
    api.post(f"/api/v1/campaigns/{campaign.id}/send")
    run_jobs()

    response = api.delete(f"/api/v1/subscribers/{subscriber.id}")

    assert response.status_code == 409
    assert db.session.get(Subscriber, subscriber.id) is not None
