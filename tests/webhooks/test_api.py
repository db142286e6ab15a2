"""The webhook API: every answer is also checked against the served OpenAPI document."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import User, WebhookDelivery, WebhookEndpoint
from app.models.base import utcnow
from app.services import webhooks
from tests.api.conftest import DocumentedClient
from tests.webhooks.receiver import private_ok_fixture, receiver_fixture, run_webhook_jobs_fixture, verify  # noqa: F401

URL = "https://hooks.example.com/postroom"


@pytest.fixture
def api(app, client, api_token):
    return DocumentedClient(app, client, api_token)


@pytest.fixture
def anon(app, client):
    return DocumentedClient(app, client)


@pytest.fixture
def owner(api):
    return db.session.scalar(sa.select(User).where(User.email == "owner@example.com"))


def _create(api, url: str = URL, events=("email.delivered",), **extra) -> dict:
    response = api.post("/api/v1/webhooks", json={"url": url, "events": list(events), **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_create_shows_the_secret_once(api):
    created = _create(api, events=["email.bounced", "email.delivered"], description="CRM sync")

    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["email.delivered", "email.bounced"]  # the documented order
    assert created["enabled"] is True and created["disabled_reason"] is None
    assert created["description"] == "CRM sync" and created["url"] == URL
    shown = api.get(f"/api/v1/webhooks/{created['id']}").get_json()
    assert "secret" not in shown and created["secret"] not in str(shown)
    listed = api.get("/api/v1/webhooks").get_json()
    assert [item["id"] for item in listed["data"]] == [created["id"]] and "secret" not in listed["data"][0]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"url": "ftp://example.com/x", "events": ["email.delivered"]}, "url", "http"),
        ({"url": "http://169.254.169.254/latest", "events": ["email.delivered"]}, "url", "metadata"),
        ({"url": "", "events": ["email.delivered"]}, "url", "required"),
        ({"url": URL, "events": ["email.exploded"]}, "events", "email.exploded"),
        ({"url": URL, "events": []}, "events", "at least one"),
        ({"url": URL}, "events", "Field required"),
        ({"url": URL, "events": ["email.delivered"], "secret": "whsec_mine"}, "secret", "unknown field"),
        ({"url": URL, "events": ["email.delivered"], "description": "x" * 201}, "description", "200"),
    ],
)
def test_create_validates(api, body, field, words):
    response = api.post("/api/v1/webhooks", json=body)

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == field and words in error["message"]
    assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 0


def test_an_account_has_at_most_twenty_endpoints(api):
    for number in range(webhooks.MAX_ENDPOINTS):
        _create(api, url=f"{URL}/{number}")

    response = api.post("/api/v1/webhooks", json={"url": URL, "events": ["email.delivered"]})
    assert response.status_code == 409 and "at most 20" in response.get_json()["error"]["message"]


def test_missing_or_wrong_token_is_401(anon, api):
    created = _create(api)
    for path in (
        "/api/v1/webhooks",
        f"/api/v1/webhooks/{created['id']}",
        f"/api/v1/webhooks/{created['id']}/deliveries",
    ):
        assert anon.get(path).status_code == 401
        assert anon.get(path, headers={"Authorization": "Bearer pr_nope"}).status_code == 401
    assert anon.post("/api/v1/webhooks", json={"url": URL, "events": ["email.delivered"]}).status_code == 401


def test_another_accounts_endpoint_is_404(api, make_user):
    make_user("other@example.com")
    theirs = webhooks.create(
        db.session.scalar(sa.select(User.account_id).where(User.email == "other@example.com")), URL, ["email.bounced"]
    )

    assert api.get(f"/api/v1/webhooks/{theirs.id}").status_code == 404
    assert api.patch(f"/api/v1/webhooks/{theirs.id}", json={"url": "https://evil.example.com/"}).status_code == 404
    assert api.post(f"/api/v1/webhooks/{theirs.id}/rotate-secret").status_code == 404
    assert api.get("/api/v1/webhooks").get_json()["data"] == []
    db.session.refresh(theirs)
    assert theirs.url == URL


def test_update_enable_disable_and_delete(api, owner):
    created = _create(api)
    path = f"/api/v1/webhooks/{created['id']}"

    changed = api.patch(path, json={"events": ["subscriber.confirmed"], "url": "https://new.example.com/h"}).get_json()
    assert changed["events"] == ["subscriber.confirmed"] and changed["url"] == "https://new.example.com/h"
    assert api.patch(path, json={"events": ["nope"]}).status_code == 422
    assert api.patch(path, json={"enabled": None}).get_json()["error"]["field"] == "enabled"

    disabled = api.patch(path, json={"enabled": False}).get_json()
    assert disabled["enabled"] is False and disabled["disabled_at"] is not None
    db.session.execute(sa.update(WebhookEndpoint).values(disabled_reason="answered 410 Gone"))
    db.session.commit()
    assert api.get(path).get_json()["disabled_reason"] == "answered 410 Gone"
    kept = api.patch(path, json={"url": "https://fixed.example.com/h", "enabled": False}).get_json()
    assert kept["disabled_reason"] == "answered 410 Gone" and kept["enabled"] is False
    enabled = api.patch(path, json={"enabled": True}).get_json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None and enabled["disabled_at"] is None

    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


def test_rotate_secret(api):
    created = _create(api)
    path = f"/api/v1/webhooks/{created['id']}/rotate-secret"

    rotated = api.post(path).get_json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    expires = rotated["previous_secret_expires_at"]
    assert expires is not None
    assert abs((datetime.fromisoformat(expires) - (utcnow() + timedelta(days=1))).total_seconds()) < 60
    assert api.post(path, json={"overlap_seconds": 0}).get_json()["previous_secret_expires_at"] is None
    response = api.post(path, json={"overlap_seconds": -1})
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "overlap_seconds"


def test_test_ping_deliveries_and_replay(api, receiver, run_webhook_jobs):
    created = _create(api, url=receiver.url("/hook"), events=["email.bounced"])
    base = f"/api/v1/webhooks/{created['id']}"

    queued = api.post(f"{base}/test")
    assert queued.status_code == 202
    ping = queued.get_json()
    assert ping["event_type"] == "webhook.test" and ping["status"] == "pending" and ping["attempts"] == []
    assert ping["event_id"].startswith("msg_")
    run_webhook_jobs()

    [hit] = receiver.to("/hook")
    assert verify(created["secret"], hit)["type"] == "webhook.test"
    page = api.get(f"{base}/deliveries").get_json()
    [delivery] = page["data"]
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 1
    assert delivery["payload"]["type"] == "webhook.test" and delivery["payload"]["data"]["endpoint_id"] == created["id"]
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] == 200 and attempt["response_excerpt"] == "ok" and attempt["error"] is None
    assert attempt["request_headers"]["webhook-id"] == ping["event_id"] and attempt["elapsed_ms"] >= 0
    assert api.get(f"{base}/deliveries/{delivery['id']}").get_json()["id"] == delivery["id"]

    replayed = api.post(f"{base}/deliveries/{delivery['id']}/replay")
    assert replayed.status_code == 202
    again = replayed.get_json()
    assert again["id"] != delivery["id"] and again["event_id"] == ping["event_id"] and again["status"] == "pending"
    run_webhook_jobs()
    assert [h.headers["webhook-id"] for h in receiver.to("/hook")] == [ping["event_id"], ping["event_id"]]
    assert [d["status"] for d in api.get(f"{base}/deliveries").get_json()["data"]] == ["succeeded", "succeeded"]
    assert api.get(f"{base}/deliveries?status=pending").get_json()["data"] == []
    assert api.get(f"{base}/deliveries?status=lost").status_code == 422


def test_replaying_a_pending_delivery_tries_it_now(api, receiver):
    created = _create(api, url=receiver.url("/hook"))
    ping = api.post(f"/api/v1/webhooks/{created['id']}/test").get_json()
    later = utcnow() + timedelta(hours=5)
    db.session.execute(sa.update(WebhookDelivery).values(next_attempt_at=later))
    db.session.commit()

    again = api.post(f"/api/v1/webhooks/{created['id']}/deliveries/{ping['id']}/replay").get_json()

    assert again["id"] == ping["id"]
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, ping["id"]).next_attempt_at < later - timedelta(hours=4)
    assert db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 1


def test_a_disabled_endpoint_cannot_be_tested_or_replayed(api):
    created = _create(api)
    ping = api.post(f"/api/v1/webhooks/{created['id']}/test").get_json()
    api.patch(f"/api/v1/webhooks/{created['id']}", json={"enabled": False})

    assert api.post(f"/api/v1/webhooks/{created['id']}/test").status_code == 409
    assert api.post(f"/api/v1/webhooks/{created['id']}/deliveries/{ping['id']}/replay").status_code == 409


def test_collections_are_paginated_by_cursor(api):
    ids = [_create(api, url=f"{URL}/{n}")["id"] for n in range(3)]

    first = api.get("/api/v1/webhooks?limit=2").get_json()
    assert [item["id"] for item in first["data"]] == ids[::-1][:2] and first["next_cursor"]
    second = api.get(f"/api/v1/webhooks?limit=2&cursor={first['next_cursor']}").get_json()
    assert [item["id"] for item in second["data"]] == [ids[0]] and second["next_cursor"] is None

    for _ in range(3):
        api.post(f"/api/v1/webhooks/{ids[0]}/test")
    page = api.get(f"/api/v1/webhooks/{ids[0]}/deliveries?limit=2").get_json()
    rest = api.get(f"/api/v1/webhooks/{ids[0]}/deliveries?limit=2&cursor={page['next_cursor']}").get_json()
    assert len(page["data"]) == 2 and len(rest["data"]) == 1 and rest["next_cursor"] is None
