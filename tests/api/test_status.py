"""/api/v1/status: queues, workers, breakers, buckets and providers, as the calling account sees them."""

from __future__ import annotations

import redis
from rq import Queue

from app.delivery.breaker import Breaker
from app.delivery.ratelimit import TokenBucket
from app.models import EmailStatus, Outcome
from app.services import providers
from tests.web.test_status import add_email


def test_status_without_providers_shows_the_instance_default(api, app, redis_conn):
    Queue(app.config["RQ_QUEUE"], connection=redis_conn).enqueue("app.jobs.tasks.maintenance")

    response = api.get("/api/v1/status")

    assert response.status_code == 200
    body = response.get_json()
    assert body["redis"] == "ok"
    assert body["queues"] == [{"name": app.config["RQ_QUEUE"], "queued": 1, "started": 0, "failed": 0}]
    assert body["workers"] == []
    assert [(p["id"], p["name"], p["breaker"]) for p in body["providers"]] == [(None, "default", "closed")]
    assert (body["breakers"], body["buckets"], body["recent_failures"]) == ([], [], [])


def test_status_shows_own_providers_breakers_buckets_and_failures(api, owner, other, redis_conn):
    url = "smtp://u:Zq9-secret@relay.test:25"
    relay = providers.create(owner.account_id, "relay", url, daily_cap=100, warmup="5,10")
    email = add_email(owner.account_id, "a@down.test", reply=(421, "4.4.2", "connection dropped", Outcome.DEFERRED))
    add_email(owner.account_id, "b@waiting.test", EmailStatus.QUEUED)
    add_email(other["user"].account_id, "c@theirs.test", reply=(None, None, "their failure", Outcome.DEFERRED))
    for name in (f"provider:{relay.id}", "provider:default", "domain:down.test", "domain:theirs.test"):
        Breaker(redis_conn, name, threshold=1).record_failure()
    for name in ("domain:waiting.test", "domain:theirs.test", f"provider:{relay.id}"):
        TokenBucket(redis_conn, name, 10, 10).take()

    body = api.get("/api/v1/status").get_json()

    assert [(p["id"], p["name"], p["breaker"], p["cap_today"]) for p in body["providers"]] == [
        (relay.id, "relay", "open", 5)
    ]
    assert body["providers"][0]["warmup_today"] == {"day": 1, "days": 2, "cap": 5}
    breakers = {b["name"]: b for b in body["breakers"]}
    assert set(breakers) == {f"provider:{relay.id}", "domain:down.test"}
    assert breakers[f"provider:{relay.id}"]["label"] == "relay"
    assert (breakers["domain:down.test"]["kind"], breakers["domain:down.test"]["target"]) == ("domain", "down.test")
    assert breakers["domain:down.test"]["state"] == "open" and breakers["domain:down.test"]["retry_at"]
    assert {b["name"] for b in body["buckets"]} == {"domain:waiting.test", f"provider:{relay.id}"}
    [failure] = body["recent_failures"]
    assert (failure["email_id"], failure["recipient"], failure["smtp_code"]) == (email.id, "a@down.test", 421)
    assert "Zq9-secret" not in api.get("/api/v1/status").text


def test_status_with_redis_down_answers_what_it_can(api, app, monkeypatch):
    monkeypatch.setitem(app.extensions, "redis", redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))

    response = api.get("/api/v1/status")

    assert response.status_code == 200
    body = response.get_json()
    assert body["redis"] != "ok"
    assert body["queues"] == [] and body["providers"] == []


def test_status_needs_a_token(anon):
    assert anon.get("/api/v1/status").status_code == 401
