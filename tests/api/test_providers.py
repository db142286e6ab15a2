"""/api/v1/providers: create, list, read, change, delete; the password never comes back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.delivery import providers as engine
from app.delivery.breaker import Breaker
from app.extensions import db
from app.models import Provider

SECRET = "hunter2-Very-Secret"
URL = f"smtp://apikey:{SECRET}@smtp.relay.test:587?security=starttls"


def create(api, name: str = "Relay", **fields) -> dict:
    response = api.post("/api/v1/providers", json={"name": name, "smtp_url": URL, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def stored(provider_id: int) -> Provider:
    db.session.expire_all()
    return db.session.get(Provider, provider_id)


def test_create_answers_the_provider_without_its_password(api):
    response = api.post(
        "/api/v1/providers",
        json={"name": "Relay", "smtp_url": URL, "priority": 2, "weight": 3, "max_per_second": 10, "daily_cap": 5000,
              "warmup": "50,100,200"},
    )  # fmt: skip

    assert response.status_code == 201
    body = response.get_json()
    assert SECRET not in response.text
    assert body["smtp_url"] == "smtp://apikey:***@smtp.relay.test:587?security=starttls"
    assert (body["name"], body["priority"], body["weight"]) == ("Relay", 2, 3)
    assert (body["max_per_second"], body["daily_cap"], body["warmup"]) == (10.0, 5000, [50, 100, 200])
    assert body["warmup_started_at"] is not None and body["enabled"] is True
    assert (body["breaker"], body["sent_today"], body["cap_today"]) == ("closed", 0, 50)
    assert body["warmup_today"] == {"day": 1, "days": 3, "cap": 50}
    assert stored(body["id"]).smtp_url == URL


def test_defaults_and_a_warmup_given_as_a_list(api):
    body = api.post("/api/v1/providers", json={"name": "Plain", "smtp_url": "smtp://relay.test"}).get_json()
    assert (body["priority"], body["weight"], body["max_per_second"], body["daily_cap"]) == (0, 1, None, None)
    assert (body["warmup"], body["warmup_today"], body["cap_today"]) == (None, None, None)
    assert body["smtp_url"] == "smtp://relay.test"

    listed = create(api, "Warm", warmup=[10, 20])
    assert listed["warmup"] == [10, 20]


def test_list_get_and_pagination(api):
    ids = [create(api, f"p{i}")["id"] for i in range(3)]

    page = api.get("/api/v1/providers?limit=2").get_json()
    assert [p["id"] for p in page["data"]] == ids[:0:-1]
    rest = api.get(f"/api/v1/providers?limit=2&cursor={page['next_cursor']}").get_json()
    assert ([p["id"] for p in rest["data"]], rest["next_cursor"]) == ([ids[0]], None)
    one = api.get(f"/api/v1/providers/{ids[1]}")
    assert one.status_code == 200 and one.get_json()["name"] == "p1"
    assert SECRET not in api.get("/api/v1/providers").text


def test_patch_keeps_the_password_unless_a_new_url_is_given(api, redis_conn):
    provider_id = create(api, daily_cap=9)["id"]

    response = api.patch(f"/api/v1/providers/{provider_id}", json={"priority": 5, "daily_cap": None, "enabled": False})
    assert response.status_code == 200
    assert (response.get_json()["priority"], response.get_json()["daily_cap"]) == (5, None)
    assert response.get_json()["enabled"] is False
    assert stored(provider_id).smtp_url == URL

    redacted = response.get_json()["smtp_url"]
    refused = api.patch(f"/api/v1/providers/{provider_id}", json={"smtp_url": redacted})
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "smtp_url"
    assert stored(provider_id).smtp_url == URL

    new_url = "smtps://apikey:n3w@smtp.relay.test"
    assert api.patch(f"/api/v1/providers/{provider_id}", json={"smtp_url": new_url}).status_code == 200
    assert stored(provider_id).smtp_url == new_url


def test_patch_starts_and_restarts_the_warmup(api):
    provider_id = create(api)["id"]

    body = api.patch(f"/api/v1/providers/{provider_id}", json={"warmup": [5, 10]}).get_json()
    assert body["warmup_today"] == {"day": 1, "days": 2, "cap": 5}
    started = stored(provider_id).warmup_started_at

    body = api.patch(f"/api/v1/providers/{provider_id}", json={"restart_warmup": True}).get_json()
    assert stored(provider_id).warmup_started_at >= started

    body = api.patch(f"/api/v1/providers/{provider_id}", json={"warmup": None}).get_json()
    assert (body["warmup"], body["warmup_started_at"], body["warmup_today"]) == (None, None, None)


def test_live_numbers_follow_redis(api, redis_conn):
    provider_id = create(api, daily_cap=10)["id"]
    engine.record_sent(redis_conn, engine.Choice("Relay", provider_id, URL), n=4)
    Breaker(redis_conn, f"provider:{provider_id}", threshold=1).record_failure()

    body = api.get(f"/api/v1/providers/{provider_id}").get_json()

    assert (body["sent_today"], body["cap_today"], body["breaker"]) == (4, 10, "open")


def test_delete(api):
    provider_id = create(api)["id"]

    assert api.delete(f"/api/v1/providers/{provider_id}").status_code == 204
    assert api.get(f"/api/v1/providers/{provider_id}").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(Provider.id))) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"smtp_url": URL}, "name"),
        ({"name": "x"}, "smtp_url"),
        ({"name": "x", "smtp_url": "http://apikey:" + SECRET + "@relay.test"}, "smtp_url"),
        ({"name": "x", "smtp_url": f"smtp://apikey:{SECRET}@relay.test?security=ssl"}, "smtp_url"),
        ({"name": "x", "smtp_url": f"smtp://apikey:{SECRET}@relay.test:99999"}, "smtp_url"),
        ({"name": "x", "smtp_url": "smtp://"}, "smtp_url"),
        ({"name": "x\r\nBcc: y", "smtp_url": URL}, "name"),
        ({"name": "", "smtp_url": URL}, "name"),
        ({"name": "x", "smtp_url": URL, "weight": -1}, "weight"),
        ({"name": "x", "smtp_url": URL, "priority": 10**12}, "priority"),
        ({"name": "x", "smtp_url": URL, "max_per_second": 0}, "max_per_second"),
        ({"name": "x", "smtp_url": URL, "daily_cap": -5}, "daily_cap"),
        ({"name": "x", "smtp_url": URL, "warmup": "10,0"}, "warmup"),
        ({"name": "x", "smtp_url": URL, "warmup": [10, -1]}, "warmup"),
        ({"name": "x", "smtp_url": URL, "warmup": "ten"}, "warmup"),
        ({"name": "x", "smtp_url": URL, "warmup": ",".join(["1"] * 400)}, "warmup"),
        ({"name": "x", "smtp_url": URL, "weight": "3"}, "weight"),
        ({"name": "x", "smtp_url": URL, "password": "x"}, "password"),
    ],
)
def test_invalid_input_is_422_naming_the_field_and_never_echoing_the_password(api, body, field):
    response = api.post("/api/v1/providers", json=body)

    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == field
    assert SECRET not in response.text
    assert db.session.scalar(sa.select(sa.func.count(Provider.id))) == 0


def test_names_are_unique_per_account_but_not_across_accounts(api, other):
    create(api)

    again = api.post("/api/v1/providers", json={"name": "relay", "smtp_url": URL})
    assert again.status_code == 422 and again.get_json()["error"]["field"] == "name"
    renamed = create(api, "Other")
    clash = api.patch(f"/api/v1/providers/{renamed['id']}", json={"name": "RELAY"})
    assert clash.status_code == 422

    as_other = {"Authorization": f"Bearer {other['token']}"}
    theirs = api.post("/api/v1/providers", json={"name": "Relay", "smtp_url": URL}, headers=as_other)
    assert theirs.status_code == 201


def test_the_api_needs_a_token(anon):
    assert anon.get("/api/v1/providers").status_code == 401
    assert anon.post("/api/v1/providers", json={"name": "x", "smtp_url": URL}).status_code == 401
