"""Passwords: argon2id at OWASP's cost, rehashed at login, one answer and one cost for every
failed login, and the user's own password change."""

from __future__ import annotations

import re
import statistics
import time

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from app.config import load_settings
from app.extensions import db
from app.models import Role, User
from app.services import accounts
from tests.conftest import PASSWORD, csrf_token
from tests.security.auth_support import (  # noqa: F401  (fixture)
    events,
    flash_error,
    log_in,
    logged_in,
    post,
    signed_in,
    user,
)

pytestmark = pytest.mark.usefixtures("separate_sessions")
OWASP_FLOOR = {"m": 19456, "t": 2, "p": 1}
NEW = "a brand new passphrase"


def _params(stored: str) -> dict[str, int]:
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$.+", stored)
    assert match, stored
    return dict(zip("mtp", map(int, match.groups()), strict=True))


def test_the_production_defaults_are_owasps_argon2id_and_the_tests_use_them(app, make_user):
    settings = load_settings()
    assert (settings["ARGON2_TIME_COST"], settings["ARGON2_MEMORY_KIB"], settings["ARGON2_PARALLELISM"]) == (
        2,
        19456,
        1,
    )
    for key in ("ARGON2_TIME_COST", "ARGON2_MEMORY_KIB", "ARGON2_PARALLELISM"):
        assert app.config[key] == settings[key]  # the suite does not lower the cost

    stored = make_user().password_hash
    params = _params(stored)
    assert params == OWASP_FLOOR
    assert params["m"] >= OWASP_FLOOR["m"] and params["t"] >= OWASP_FLOOR["t"]
    assert PasswordHasher().verify(stored, PASSWORD)  # a standard argon2id hash, readable anywhere


def test_a_configured_cost_is_used(app, make_user):
    app.config["ARGON2_TIME_COST"] = 3
    try:
        assert _params(accounts.hash_password("some password 1"))["t"] == 3
    finally:
        app.config["ARGON2_TIME_COST"] = 2


@pytest.mark.parametrize(
    "old",
    [
        PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1),  # weaker than the floor
        PasswordHasher(),  # the library's RFC 9106 profile, Postroom's cost before this change
    ],
    ids=["weak", "rfc9106"],
)
def test_an_older_hash_is_replaced_at_the_next_login(app, client, make_user, old):
    owner = make_user()
    db.session.execute(sa.update(User).where(User.id == owner.id).values(password_hash=old.hash(PASSWORD)))
    db.session.commit()
    before = user("owner@example.com").password_hash

    assert log_in(client, "owner@example.com", "not the password").status_code == 200
    assert user("owner@example.com").password_hash == before  # a failed login changes nothing

    assert log_in(client, "owner@example.com").status_code == 302
    after = user("owner@example.com").password_hash
    assert after != before and _params(after) == OWASP_FLOOR
    assert accounts.hasher().verify(after, PASSWORD)
    with pytest.raises(VerificationError):
        accounts.hasher().verify(after, "not the password")


def _normalised(response, typed: str) -> str:
    body = response.get_data(as_text=True)
    body = re.sub(r'name="csrf_token"[^>]*value="[^"]+"', 'name="csrf_token" value="-"', body)
    body = re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": "-"', body)
    return body.replace(typed, "<typed>")


@pytest.fixture
def three_kinds(app, make_user):
    """An account with a password, a disabled user (right password), and an address nobody has."""
    make_user("owner@example.com")
    gone = make_user("gone@example.com", Role.MARKETER, "owner@example.com")
    db.session.execute(sa.update(User).where(User.id == gone.id).values(active=False))
    db.session.commit()
    return {
        "wrong password": ("owner@example.com", "not the password"),
        "unknown address": ("ghost@example.com", "not the password"),
        "disabled user": ("gone@example.com", PASSWORD),
    }


def test_unknown_address_wrong_password_and_disabled_user_get_one_answer(app, client, three_kinds):
    answers = {}
    for i, (kind, (email, password)) in enumerate(three_kinds.items()):
        response = log_in(client, email, password, ip=f"10.0.0.{i}")
        answers[kind] = (response.status_code, _normalised(response, email))
        assert flash_error(response.text) == "Wrong e-mail or password."
    assert len(set(answers.values())) == 1, answers
    assert not logged_in(client)


def test_unknown_address_wrong_password_and_disabled_user_cost_the_same(app, three_kinds):
    """Medians of interleaved tries, with a generous bound: a missing dummy hash would be ~40x faster."""
    client = app.test_client()
    token = csrf_token(client.get("/login").text)
    timings: dict[str, list[float]] = {kind: [] for kind in three_kinds}
    for round_ in range(7):
        for i, (kind, (email, password)) in enumerate(three_kinds.items()):
            environ = {"REMOTE_ADDR": f"10.1.{round_}.{i}"}  # no client address reaches its limit
            started = time.perf_counter()
            response = client.post(
                "/login", data={"email": email, "password": password, "csrf_token": token}, environ_base=environ
            )
            timings[kind].append(time.perf_counter() - started)
            assert response.status_code == 200
    medians = {kind: statistics.median(values) for kind, values in timings.items()}
    base = medians["wrong password"]
    for median in medians.values():
        assert 0.5 <= median / base <= 2.0, medians
    assert base >= 0.005, medians  # a real argon2id verification happened


def test_failed_and_successful_logins_are_audited(app, client, make_user):
    owner = make_user()
    log_in(client, "Ghost@Example.com ", "whatever-it-is")
    log_in(client, "owner@example.com", "not the password")
    log_in(client, "owner@example.com")
    post(client, "/logout")

    unknown, wrong = events("login_failed")
    assert (unknown.account_id, unknown.user_id, unknown.actor) == (None, None, "ghost@example.com")
    assert unknown.detail == {"reason": "unknown address"} and unknown.ip == "127.0.0.1"
    assert (wrong.account_id, wrong.actor) == (owner.account_id, "owner@example.com")
    assert wrong.detail == {"reason": "wrong password"}
    [login] = events("login")
    [logout] = events("logout")
    assert login.user_id == logout.user_id == owner.id
    assert user("owner@example.com").last_login_at is not None


def test_a_typed_address_is_cut_to_fit_the_audit_log(app, client):
    typed = "x" * 240 + "@example.com"
    log_in(client, typed, "whatever-it-is")
    [event] = events("login_failed")
    assert event.actor == typed[:254]


# The user's own password change.


@pytest.fixture
def owner_client(app, make_user):
    make_user()
    return signed_in(app, "owner@example.com")


def _change(client, current: str, new: str, again: str | None = None):
    data = {"current_password": current, "new_password": new, "new_password_again": new if again is None else again}
    return post(client, "/account/password", data, page="/account/password")


def test_the_top_bar_links_to_the_account_page(owner_client):
    page = owner_client.get("/lists").text
    assert 'href="/account"' in page
    account = owner_client.get("/account")
    assert account.status_code == 200 and 'href="/account/password"' in account.text


@pytest.mark.parametrize(
    "current,new,again,message",
    [
        ("not the password", NEW, None, "That is not your current password."),
        (PASSWORD, "short", None, "Password must be at least 10 characters."),
        (PASSWORD, NEW, "something else entirely", "The two passwords differ."),
        ("", NEW, None, "Type your current password."),
    ],
)
def test_a_refused_change_says_why_and_changes_nothing(owner_client, current, new, again, message):
    before = user("owner@example.com")
    response = _change(owner_client, current, new, again)

    assert response.status_code == 422
    assert message in response.text
    after = user("owner@example.com")
    assert (after.password_hash, after.session_version) == (before.password_hash, before.session_version)
    assert events("password_changed") == []
    assert logged_in(owner_client)


def test_the_own_password_change_needs_the_current_one_and_keeps_this_session(app, owner_client):
    other = signed_in(app, "owner@example.com")  # the same user on another computer
    before = user("owner@example.com").session_version

    response = _change(owner_client, PASSWORD, NEW)

    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert "Your password is changed" in owner_client.get("/account").text
    assert user("owner@example.com").session_version == before + 1
    assert logged_in(owner_client)  # this session goes on
    assert not logged_in(other)  # the other one ended
    [event] = events("password_changed")
    assert event.user_id == user("owner@example.com").id
    fresh = app.test_client()
    assert log_in(fresh, "owner@example.com", PASSWORD).status_code == 200  # the old one no longer works
    assert log_in(fresh, "owner@example.com", NEW).status_code == 302


def test_wrong_current_passwords_count_like_failed_logins(app, owner_client):
    """A stolen session is no faster way to guess the password than the login page."""
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert _change(owner_client, "not the password", NEW).status_code == 422
    refused = _change(owner_client, PASSWORD, NEW)
    assert refused.status_code == 429
    assert "Too many failed attempts; try again in 15 minutes." in refused.text
    assert accounts.password_matches(user("owner@example.com").password_hash, PASSWORD)
