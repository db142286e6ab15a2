"""Per-token rate limits: counted in the real Redis, answered 429 with Retry-After, failing open."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from app import create_app
from app.api.limits import check_limit
from app.extensions import db
from app.services import accounts


@pytest.fixture
def limit(app, monkeypatch):
    """Set API_RATE_LIMIT for this test."""

    def set_limit(value: str) -> None:
        monkeypatch.setitem(app.config, "API_RATE_LIMIT", value)

    return set_limit


def test_a_token_over_its_limit_gets_429_with_retry_after(api, limit):
    limit("3 per minute")

    answers = [api.get(path) for path in ("/api/v1/lists", "/api/v1/campaigns", "/api/v1/suppressions")]
    refused = api.get("/api/v1/emails")

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["2", "1", "0"]
    assert {answer.headers["X-RateLimit-Limit"] for answer in answers} == {"3"}
    assert "Retry-After" not in answers[0].headers
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited"
    assert "3 per 1 minute" in error["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["X-RateLimit-Reset"]) >= int(time.time())


def test_every_method_and_route_shares_one_budget(api, limit):
    limit("2 per minute")

    assert api.post("/api/v1/lists", json={"name": "News"}).status_code == 201
    assert api.get("/api/v1/lists").status_code == 200
    assert api.post("/api/v1/lists", json={"name": "More"}).status_code == 429
    assert api.get("/api/v1/openapi.json").status_code == 429


def test_each_token_has_its_own_budget(api, anon, other, limit):
    limit("1 per minute")

    assert api.get("/api/v1/lists").status_code == 200
    assert api.get("/api/v1/lists").status_code == 429
    theirs = anon.get("/api/v1/lists", headers={"Authorization": f"Bearer {other['token']}"})

    assert theirs.status_code == 200


def test_a_second_token_of_the_same_user_has_its_own_budget(api, owner, anon, limit):
    second = accounts.issue_token(owner, "second")[1]
    limit("1 per minute")

    assert api.get("/api/v1/lists").status_code == 200
    assert api.get("/api/v1/lists").status_code == 429
    assert anon.get("/api/v1/lists", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_calls_without_a_valid_token_count_against_the_address(api, anon, limit):
    limit("2 per minute")

    assert anon.get("/api/v1/lists").status_code == 401
    assert anon.get("/api/v1/lists", headers={"Authorization": "Bearer pr_nope_nope"}).status_code == 401
    refused = anon.get("/api/v1/lists", headers={"Authorization": "Bearer pr_other_guess"})

    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert api.get("/api/v1/lists").status_code == 200  # a valid token is not held back by the address


def test_health_is_never_limited(anon, limit):
    limit("1 per minute")

    answers = [anon.get("/api/v1/health") for _ in range(5)]

    assert [answer.status_code for answer in answers] == [200] * 5
    assert "X-RateLimit-Limit" not in answers[-1].headers


def test_the_budget_comes_back_after_retry_after(api, limit):
    limit("1 per second")
    assert api.get("/api/v1/lists").status_code == 200
    refused = api.get("/api/v1/lists")
    assert refused.status_code == 429

    time.sleep(int(refused.headers["Retry-After"]) + 0.05)

    assert api.get("/api/v1/lists").status_code == 200


def test_redis_keys_name_the_token_prefix_never_its_secret(api, redis_conn, limit):
    limit("5 per minute")
    api.get("/api/v1/lists")
    _, prefix, secret = api.token.split("_", 2)

    keys = [key.decode() for key in redis_conn.keys("LIMITS*")]

    assert keys and all(f"token:{prefix}" in key for key in keys)
    assert not any(secret in key for key in keys)


def test_an_empty_limit_turns_limiting_off(api, limit):
    limit("")

    answers = [api.get("/api/v1/lists") for _ in range(5)]

    assert {answer.status_code for answer in answers} == {200}
    assert "X-RateLimit-Limit" not in answers[-1].headers


def test_the_document_describes_429_on_every_limited_route(anon):
    doc = anon.get("/api/v1/openapi.json").get_json()

    limited = {
        f"{verb.upper()} {path}": "429" in operation["responses"]
        for path, item in doc["paths"].items()
        for verb, operation in item.items()
    }

    assert limited.pop("GET /health") is False
    assert all(limited.values()), [route for route, documented in limited.items() if not documented]
    assert set(doc["components"]["responses"]["RateLimited"]["headers"]) >= {"Retry-After", "X-RateLimit-Remaining"}


@pytest.mark.parametrize("value", ["lots", "50 per fortnight", "-1 per second"])
def test_an_unreadable_limit_is_refused_at_start(value):
    with pytest.raises(ValueError, match="API_RATE_LIMIT"):
        check_limit(value)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_api_keeps_answering_when_redis_is_down(app, api_token, caplog, monkeypatch):
    """Fail open: with Redis unreachable the limiter logs and the call goes through."""
    # Alembic's logging set-up (the session's migrations) disables loggers that existed before it.
    monkeypatch.setattr(logging.getLogger("flask-limiter"), "disabled", False)
    down = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0",
            "DEV_CATCHER": False,
            "API_RATE_LIMIT": "1 per minute",
        }
    )
    client = down.test_client()
    headers = {"Authorization": f"Bearer {api_token}"}
    try:
        with caplog.at_level(logging.WARNING):
            answers = [client.get("/api/v1/lists", headers=headers) for _ in range(3)]
    finally:
        with down.app_context():
            db.engine.dispose()

    assert [answer.status_code for answer in answers] == [200] * 3
    assert "X-RateLimit-Limit" not in answers[0].headers
    assert any(record.name == "flask-limiter" and record.levelno == logging.ERROR for record in caplog.records)
