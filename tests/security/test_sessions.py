"""Sessions: a new one at every login, all of a user's ended by a password change, a disable or
"log out everywhere else", cookie flags, idle expiry, and no remember-me cookie."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from flask_login.utils import encode_cookie

from app.config import load_settings
from app.models import Role
from tests.conftest import PASSWORD, csrf_token
from tests.security.auth_support import (  # noqa: F401
    events,
    log_in,
    logged_in,
    post,
    signed_in,
    user,
)

pytestmark = pytest.mark.usefixtures("separate_sessions")


def _session(client) -> dict:
    with client.session_transaction() as session:
        return dict(session)


def test_login_starts_a_new_session_and_a_new_csrf_token(app, make_user):
    make_user()
    client = app.test_client()
    page = client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"  # e.g. through a sibling subdomain's cookie
        session["_user_id"] = "999"
    before = _session(client)
    copied = app.test_client()
    copied.set_cookie("session", client.get_cookie("session").value)

    response = client.post(
        "/login", data={"email": "owner@example.com", "password": PASSWORD, "csrf_token": csrf_token(page.text)}
    )

    assert response.status_code == 302
    after = _session(client)
    assert "planted" not in after and after["_user_id"] == str(user("owner@example.com").id)
    assert after.get("csrf_token") != before["csrf_token"]
    assert after["session_version"] == 1 and after["_permanent"] is True
    new_form_token = csrf_token(client.get("/lists/new").text)
    assert _session(client)["csrf_token"] != before["csrf_token"]
    assert new_form_token != csrf_token(page.text)
    assert not logged_in(copied)  # the cookie from before the login grants nothing


def test_a_password_change_ends_the_other_session_and_its_copies(app, make_user):
    make_user()
    mine, other = signed_in(app, "owner@example.com"), signed_in(app, "owner@example.com")
    stolen = app.test_client()
    stolen.set_cookie("session", other.get_cookie("session").value)
    assert logged_in(other) and logged_in(stolen)

    response = post(
        mine,
        "/account/password",
        {
            "current_password": PASSWORD,
            "new_password": "another passphrase",
            "new_password_again": "another passphrase",
        },
    )

    assert response.status_code == 302
    assert logged_in(mine)
    assert not logged_in(other) and not logged_in(stolen)


def test_disabling_a_user_ends_every_session_of_theirs_for_good(app, make_user):
    make_user("admin@example.com")
    mark = make_user("mark@example.com", Role.MARKETER, "admin@example.com")
    admin = signed_in(app, "admin@example.com")
    laptop, phone = signed_in(app, "mark@example.com"), signed_in(app, "mark@example.com")

    assert post(admin, f"/users/{mark.id}/disable", page="/users").status_code == 302
    assert not logged_in(laptop) and not logged_in(phone)

    assert post(admin, f"/users/{mark.id}/enable", page="/users").status_code == 302
    assert not logged_in(laptop) and not logged_in(phone)  # enabling does not bring old sessions back
    assert logged_in(signed_in(app, "mark@example.com"))
    assert [e.action for e in events() if e.action.startswith("user_")] == ["user_disabled", "user_enabled"]


def test_log_out_everywhere_else(app, make_user):
    make_user()
    mine, other = signed_in(app, "owner@example.com"), signed_in(app, "owner@example.com")

    response = post(mine, "/account/sessions/end", page="/account")

    assert response.status_code == 302
    assert logged_in(mine) and not logged_in(other)


def test_logout_empties_the_session_and_is_audited(app, make_user):
    owner = make_user()
    client = signed_in(app, "owner@example.com")

    assert post(client, "/logout").status_code == 302

    assert "_user_id" not in _session(client) and "session_version" not in _session(client)
    assert not logged_in(client)
    [event] = events("logout")
    assert event.user_id == owner.id


def test_a_remember_me_cookie_logs_nobody_in(app, make_user):
    """Postroom never sets one; one made with the secret key still lacks the session's version."""
    owner = make_user()
    client = app.test_client()
    client.set_cookie(app.config.get("REMEMBER_COOKIE_NAME", "remember_token"), encode_cookie(str(owner.id)))

    assert not logged_in(client)
    signed_in(app, "owner@example.com").get("/")
    assert all("remember_token" not in header for header in _login_cookies(app))


def _login_cookies(app, base_url: str = "http://localhost") -> list[str]:
    client = app.test_client()
    page = client.get("/login", base_url=base_url)
    response = client.post(
        "/login",
        data={"email": "owner@example.com", "password": PASSWORD, "csrf_token": csrf_token(page.text)},
        base_url=base_url,
        headers={"Referer": f"{base_url}/login"},  # Flask-WTF checks it over https
    )
    assert response.status_code == 302
    return response.headers.getlist("Set-Cookie")


def test_the_session_cookie_is_httponly_lax_and_ends_after_12_idle_hours(app, make_user):
    make_user()
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=12)
    [cookie] = _login_cookies(app)
    flags = [part.strip() for part in cookie.split(";")]
    assert flags[0].startswith("session=")
    assert "HttpOnly" in flags and "SameSite=Lax" in flags and "Path=/" in flags
    assert "Secure" not in flags  # BASE_URL is http here
    assert any(flag.startswith("Expires=") for flag in flags)


def test_over_https_the_cookie_is_secure_and_host_only(app, make_user, monkeypatch):
    make_user()
    monkeypatch.setenv("BASE_URL", "https://mail.example.com")
    settings = load_settings()
    assert settings["SESSION_COOKIE_SECURE"] and settings["REMEMBER_COOKIE_SECURE"]
    assert settings["SESSION_COOKIE_NAME"] == "__Host-postroom"
    cookie_keys = [key for key in settings if key.startswith(("SESSION_COOKIE_", "REMEMBER_COOKIE_"))]
    for key in cookie_keys:
        monkeypatch.setitem(app.config, key, settings[key])

    [cookie] = _login_cookies(app, base_url="https://localhost")

    flags = [part.strip() for part in cookie.split(";")]
    assert flags[0].startswith("__Host-postroom=")
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} <= set(flags)
    assert not any(flag.lower().startswith("domain=") for flag in flags)  # what __Host- requires


def test_an_idle_session_ends(app, make_user, monkeypatch):
    make_user()
    monkeypatch.setitem(app.config, "PERMANENT_SESSION_LIFETIME", timedelta(seconds=1))
    client = signed_in(app, "owner@example.com")
    assert logged_in(client)
    time.sleep(2.2)
    assert not logged_in(client)


def test_a_session_from_before_the_version_was_stored_is_refused(app, make_user):
    """A session cookie holding only a user id (as before this change) logs nobody in."""
    owner = make_user()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(owner.id)
        session["_fresh"] = True
    assert not logged_in(client)
    with client.session_transaction() as session:
        session["session_version"] = owner.session_version
    assert logged_in(client)
