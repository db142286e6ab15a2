"""Two-factor login: set up with a proven code, a login in two steps with nobody logged in
between them, codes used once, wrong codes limited per user whatever the session, and turning
it off with the password and a code."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import User
from tests.conftest import PASSWORD, csrf_token
from tests.security.auth_support import (  # noqa: F401
    code_after,
    events,
    flash_error,
    log_in,
    logged_in,
    post,
    signed_in,
    user,
)

pytestmark = pytest.mark.usefixtures("separate_sessions")


def _setup_page(client) -> tuple[str, str]:
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"  # it shows the secret
    secret = re.search(r'<code class="totp-secret">([A-Z2-7]{32})</code>', page.text).group(1)
    uri = re.search(r'<code class="totp-uri">([^<]+)</code>', page.text).group(1)
    return secret, uri.replace("&amp;", "&")


def _turn_on(client, secret: str, password: str = PASSWORD, code: str | None = None):
    code = pyotp.TOTP(secret).now() if code is None else code
    return post(client, "/account/two-factor", {"password": password, "code": code}, page="/account/two-factor")


@pytest.fixture
def secret(app, make_user) -> str:
    """owner@example.com with two-factor login on; its secret."""
    make_user()
    client = signed_in(app, "owner@example.com")
    secret, _ = _setup_page(client)
    assert _turn_on(client, secret).status_code == 302
    return secret


def _code_step(client, code: str, ip: str = "127.0.0.1"):
    environ = {"REMOTE_ADDR": ip}
    page = client.get("/login/code", environ_base=environ)
    assert page.status_code == 200, page.status_code
    return client.post("/login/code", data={"code": code, "csrf_token": csrf_token(page.text)}, environ_base=environ)


def _password_step(app):
    client = app.test_client()
    response = log_in(client, "owner@example.com")
    assert response.status_code == 302 and response.headers["Location"] == "/login/code"
    return client


def test_turning_it_on_shows_the_secret_and_takes_a_valid_code(app, make_user):
    make_user()
    client, other = signed_in(app, "owner@example.com"), signed_in(app, "owner@example.com")
    secret, uri = _setup_page(client)
    assert _setup_page(client)[0] == secret  # the same secret until it is used
    assert uri.startswith("otpauth://totp/Postroom:owner%40example.com?") and f"secret={secret}" in uri

    wrong_code = _turn_on(client, secret, code="000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    wrong_password = _turn_on(client, secret, password="not the password")

    assert wrong_code.status_code == wrong_password.status_code == 422
    assert "That code does not match" in wrong_code.text
    assert "That is not your current password" in wrong_password.text
    assert user("owner@example.com").totp_secret is None

    assert _turn_on(client, secret).status_code == 302
    owner = user("owner@example.com")
    assert owner.totp_secret == secret and owner.totp_enabled and owner.totp_last_step is not None
    assert logged_in(client) and not logged_in(other)  # every other session ended
    assert [e.action for e in events() if e.action.startswith("totp")] == ["totp_enabled"]
    assert "Two-factor login is already on" in client.get("/account/two-factor", follow_redirects=True).text


def test_the_login_has_two_steps_and_nobody_is_logged_in_between(app, secret):
    client = _password_step(app)

    assert not logged_in(client)  # the password alone opens nothing
    assert client.get("/").status_code == 302
    logins = len(events("login"))  # the fixture's login, before two-factor was on
    wrong = _code_step(client, "000000" if code_after(secret, None) != "000000" else "111111")
    assert wrong.status_code == 422 and "That code is not right" in wrong.text
    assert not logged_in(client)

    done = _code_step(client, code_after(secret, user("owner@example.com").totp_last_step))

    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert logged_in(client)
    assert len(events("login")) == logins + 1  # recorded only now
    assert events("login")[-1].user_id == user("owner@example.com").id
    assert [e.action for e in events() if e.action == "totp_failed"] == ["totp_failed"]


def test_the_code_step_needs_the_password_step_first(app, secret):
    client = app.test_client()
    response = client.get("/login/code")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    page = client.get("/login")
    forged = client.post("/login/code", data={"code": "123456", "csrf_token": csrf_token(page.text)})
    assert forged.status_code == 302 and not logged_in(client)


def test_the_code_step_expires(app, secret):
    client = _password_step(app)
    with client.session_transaction() as session:
        pending = session["pending_login"]
        session["pending_login"] = {**pending, "until": time.time() - 1}
    response = client.get("/login/code")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_a_code_works_once(app, secret):
    code = code_after(secret, user("owner@example.com").totp_last_step)
    first = _password_step(app)
    assert _code_step(first, code).status_code == 302

    second = _password_step(app)  # an attacker who saw the password and the code
    replay = _code_step(second, code)

    assert replay.status_code == 422 and "used already" in replay.text
    assert not logged_in(second)


def test_the_setup_code_does_not_log_in(app, make_user):
    make_user()
    client = signed_in(app, "owner@example.com")
    secret, _ = _setup_page(client)
    code = pyotp.TOTP(secret).now()
    assert _turn_on(client, secret, code=code).status_code == 302
    step = user("owner@example.com").totp_last_step
    if pyotp.TOTP(secret).generate_otp(step) == code:  # unless the step turned meanwhile
        assert _code_step(_password_step(app), code).status_code == 422


def test_wrong_codes_are_limited_per_user_across_new_logins(app, secret):
    """Logging in with the password again does not reset the count (listmonk CVE-2026-128332)."""
    wrong = "000000" if code_after(secret, None) != "000000" else "111111"
    for i in range(app.config["TOTP_MAX_FAILURES"]):
        client = _password_step(app)  # a new session each time, from another address
        assert _code_step(client, wrong, ip=f"10.7.0.{i}").status_code == 422

    client = _password_step(app)
    refused = _code_step(client, code_after(secret, user("owner@example.com").totp_last_step), ip="10.7.1.1")

    assert refused.status_code == 429
    assert flash_error(refused.text) == "Too many wrong codes; try again in 15 minutes."
    assert 0 < int(refused.headers["Retry-After"]) <= 900
    assert not logged_in(client)
    assert len(events("totp_failed")) == app.config["TOTP_MAX_FAILURES"]


def _turn_off(client, password: str, code: str):
    return post(client, "/account/two-factor/disable", {"password": password, "code": code}, page="/account")


def _rewind() -> None:
    """Forget the last accepted step, so the code of now is new again (instead of waiting 30 s)."""
    db.session.execute(sa.update(User).values(totp_last_step=None))
    db.session.commit()


def _full_login(app, secret):
    client = _password_step(app)
    assert _code_step(client, code_after(secret, user("owner@example.com").totp_last_step)).status_code == 302
    return client


def test_turning_it_off_takes_the_password_and_a_code(app, secret):
    client = _full_login(app, secret)
    _rewind()
    code = code_after(secret, None)

    assert "Turn two-factor login off" in client.get("/account").text
    assert _turn_off(client, "not the password", code).status_code == 422
    assert _turn_off(client, PASSWORD, "000000" if code != "000000" else "111111").status_code == 422
    assert _turn_off(client, PASSWORD, "").status_code == 422
    assert user("owner@example.com").totp_enabled

    assert _turn_off(client, PASSWORD, code).status_code == 302
    owner = user("owner@example.com")
    assert not owner.totp_enabled and owner.totp_secret is None
    assert logged_in(client)
    assert [e.action for e in events() if e.action.startswith("totp")] == [
        "totp_enabled",
        "totp_failed",
        "totp_disabled",
    ]
    assert log_in(app.test_client(), "owner@example.com").headers["Location"] == "/"  # one step again


def test_turning_it_off_ends_the_other_sessions(app, secret):
    mine = _full_login(app, secret)
    _rewind()
    other = _full_login(app, secret)
    assert logged_in(other)
    _rewind()
    assert _turn_off(mine, PASSWORD, code_after(secret, None)).status_code == 302
    assert logged_in(mine) and not logged_in(other)
