"""Failed logins are limited per typed address and per client address, in Redis: no new cookie,
session or client address starts afresh, and a refusal says nothing about the account."""

from __future__ import annotations

import logging
import re
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.models import Role
from tests.conftest import PASSWORD
from tests.security.auth_support import (  # noqa: F401
    events,
    flash_error,
    log_in,
    logged_in,
)

pytestmark = pytest.mark.usefixtures("separate_sessions")
REFUSED = "Too many failed attempts; try again in 15 minutes."


def _fail(app, email: str, times: int, ip: str | None = None) -> None:
    """``times`` wrong passwords for ``email``, each from a new client (and a new address unless ``ip``)."""
    for i in range(times):
        response = log_in(app.test_client(), email, "not the password", ip=ip or f"10.9.{times}.{i}")
        assert response.status_code == 200 and flash_error(response.text) == "Wrong e-mail or password."


def _normalised(response, typed: str) -> str:
    body = re.sub(r'value="[^"]{40,}"', 'value="-"', response.get_data(as_text=True))
    return re.sub(r'"X-CSRFToken": "[^"]+"', "-", body).replace(typed, "<typed>")


def test_ten_failures_refuse_even_the_right_password_from_anywhere(app, make_user):
    make_user()
    _fail(app, "owner@example.com", 10)

    client = app.test_client()  # a new cookie, a new client address
    refused = log_in(client, "owner@example.com", PASSWORD, ip="192.0.2.77")

    assert refused.status_code == 429
    assert flash_error(refused.text) == REFUSED
    assert 890 <= int(refused.headers["Retry-After"]) <= 900
    assert not logged_in(client)
    # The address in another case and with spaces is the same address.
    assert log_in(app.test_client(), " OWNER@example.com", PASSWORD, ip="192.0.2.78").status_code == 429


def test_nine_failures_still_let_the_right_password_in(app, make_user):
    make_user()
    _fail(app, "owner@example.com", 9)
    client = app.test_client()
    assert log_in(client, "owner@example.com", PASSWORD, ip="192.0.2.1").status_code == 302
    assert logged_in(client)


def test_an_unknown_address_is_refused_the_same_way(app, make_user):
    make_user()
    _fail(app, "owner@example.com", 10)
    _fail(app, "ghost@example.com", 10)

    known = log_in(app.test_client(), "owner@example.com", PASSWORD, ip="192.0.2.5")
    unknown = log_in(app.test_client(), "ghost@example.com", PASSWORD, ip="192.0.2.6")

    assert known.status_code == unknown.status_code == 429
    assert (
        known.headers["Retry-After"] == unknown.headers["Retry-After"]
        or abs(int(known.headers["Retry-After"]) - int(unknown.headers["Retry-After"])) <= 2
    )
    assert _normalised(known, "owner@example.com") == _normalised(unknown, "ghost@example.com")


def test_ten_failures_from_one_client_address_refuse_it_for_every_account(app, make_user):
    make_user()
    for i in range(10):
        log_in(app.test_client(), f"guess{i}@example.com", "not the password", ip="198.51.100.7")

    refused = log_in(app.test_client(), "owner@example.com", PASSWORD, ip="198.51.100.7")
    elsewhere = app.test_client()
    allowed = log_in(elsewhere, "owner@example.com", PASSWORD, ip="198.51.100.8")

    assert refused.status_code == 429 and flash_error(refused.text) == REFUSED
    assert allowed.status_code == 302 and logged_in(elsewhere)


def test_a_success_clears_neither_the_address_count_nor_the_account_count(app, make_user):
    """Successful logins do not reset what came before: the limit is a ceiling on guesses per window."""
    make_user()
    make_user("other@example.com", Role.MARKETER, "owner@example.com")
    ip = "203.0.113.9"
    _fail(app, "owner@example.com", 9, ip=ip)
    # Another account logs in from the same client address; the owner logs in from elsewhere.
    assert log_in(app.test_client(), "other@example.com", PASSWORD, ip=ip).status_code == 302
    assert log_in(app.test_client(), "owner@example.com", PASSWORD, ip="203.0.113.10").status_code == 302
    _fail(app, "owner@example.com", 1, ip=ip)  # the tenth failure, for both counts

    assert log_in(app.test_client(), "other@example.com", PASSWORD, ip=ip).status_code == 429  # per address
    assert log_in(app.test_client(), "owner@example.com", PASSWORD, ip="203.0.113.11").status_code == 429


def test_the_window_slides(app, make_user):
    make_user()
    app.config["LOGIN_FAILURE_WINDOW"] = 2
    try:
        _fail(app, "owner@example.com", 10)
        assert log_in(app.test_client(), "owner@example.com", PASSWORD, ip="192.0.2.50").status_code == 429
        time.sleep(2.2)
        assert log_in(app.test_client(), "owner@example.com", PASSWORD, ip="192.0.2.51").status_code == 302
    finally:
        app.config["LOGIN_FAILURE_WINDOW"] = 900


def test_a_lockout_is_audited_once(app, make_user):
    owner = make_user()
    _fail(app, "owner@example.com", 10)
    for i in range(3):
        assert log_in(app.test_client(), "owner@example.com", PASSWORD, ip=f"192.0.2.{60 + i}").status_code == 429
    log_in(app.test_client(), "ghost@example.com", "x" * 12, ip="192.0.2.70")

    [event] = events("login_throttled")
    assert event.account_id == owner.account_id and event.actor == "owner@example.com"
    assert event.detail["limit"] == "login-address" and 890 <= event.detail["retry_after"] <= 900
    assert len(events("login_failed")) == 11


def test_the_counts_live_in_redis_under_the_documented_keys(app, make_user, redis_conn):
    make_user()
    _fail(app, "owner@example.com", 2, ip="192.0.2.90")
    keys = sorted(k.decode() for k in redis_conn.keys("postroom:throttle:*"))
    assert len(keys) == 2
    assert keys[0] == "postroom:throttle:login-address:" + keys[0].rsplit(":", 1)[1]
    assert keys[1] == "postroom:throttle:login-ip:192.0.2.90"
    assert "owner" not in keys[0]  # the typed address is hashed
    assert 0 < redis_conn.ttl(keys[0]) <= 900
    assert redis_conn.zcard(keys[0]) == 2


def test_without_redis_logins_go_through_and_a_warning_is_logged(app, make_user, monkeypatch, caplog):
    make_user()
    # Nothing listens on port 1; no retries, so the test does not wait out redis-py's backoff.
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    monkeypatch.setitem(app.extensions, "redis", down)
    # Alembic's logging set-up (run by the test database's migration) disables loggers that exist then.
    monkeypatch.setattr(logging.getLogger("app.services.throttle"), "disabled", False)
    caplog.set_level(logging.WARNING, logger="app.services.throttle")

    for _ in range(12):
        assert log_in(app.test_client(), "owner@example.com", "not the password").status_code == 200
    client = app.test_client()
    assert log_in(client, "owner@example.com", PASSWORD).status_code == 302
    assert logged_in(client)
    assert "Redis unavailable, letting the attempt through" in caplog.text
