"""Password reset by e-mail: one answer whatever the address, a link delivered over real SMTP,
stored only as a hash, used once within the hour; it ends every session and never skips the
two-factor step."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import EmailKind, EmailStatus, Role, SentEmail, User
from app.models.account import PasswordResetToken
from app.services import accounts, totp
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
NEW = "a fresh passphrase"
LINK = re.compile(r"http://localhost/password/reset/([A-Za-z0-9_-]+)")


def _ask(client, email: str, ip: str = "127.0.0.1"):
    environ = {"REMOTE_ADDR": ip}
    page = client.get("/password/forgot", environ_base=environ)
    return client.post(
        "/password/forgot", data={"email": email, "csrf_token": csrf_token(page.text)}, environ_base=environ
    )


def _links(smtp_server, email: str) -> list[str]:
    found = []
    for received in smtp_server.to(email):
        body = received.message.get_body(("plain",)).get_content()
        found += LINK.findall(body)
    return found


def _normalised(response, typed: str) -> str:
    body = re.sub(r'"X-CSRFToken": "[^"]+"', "-", response.get_data(as_text=True))
    return body.replace(typed, "<typed>")


def _set(client, token: str, password: str = NEW, again: str | None = None):
    url = f"/password/reset/{token}"
    page = client.get("/password/forgot")  # any form's token: the link's own page may be the "not valid" one
    data = {"new_password": password, "new_password_again": password if again is None else again}
    return client.post(url, data={**data, "csrf_token": csrf_token(page.text)})


@pytest.fixture
def owner(app, make_user):
    return make_user()


@pytest.fixture
def mailed_link(app, client, owner, run_jobs, smtp_server) -> str:
    """The token of a reset link asked for owner@example.com and delivered to the SMTP sink."""
    assert _ask(client, "owner@example.com").status_code == 200
    run_jobs()
    [token] = _links(smtp_server, "owner@example.com")
    return token


def test_the_login_page_links_to_the_form(client):
    assert 'href="/password/forgot"' in client.get("/login").text
    assert client.get("/password/forgot").status_code == 200


def test_the_answer_is_the_same_for_every_address(app, client, owner, make_user):
    make_user("gone@example.com", Role.MARKETER, "owner@example.com")
    db.session.execute(sa.update(User).where(User.email == "gone@example.com").values(active=False))
    db.session.commit()
    answers = {}
    for email in ("owner@example.com", "ghost@example.com", "gone@example.com", "not an address"):
        response = _ask(client, email)
        answers[email] = (response.status_code, _normalised(response, email))
    assert len(set(answers.values())) == 1, answers
    assert "Check your inbox" in answers["ghost@example.com"][1]

    # Only the active user's address got an e-mail and an audit event.
    rows = list(db.session.scalars(sa.select(SentEmail)))
    assert [(r.recipient, r.kind) for r in rows] == [("owner@example.com", EmailKind.PASSWORD_RESET)]
    [event] = events("password_reset_requested")
    assert event.user_id == owner.id
    assert events("password_reset_requested") == [event]


def test_the_link_arrives_by_smtp_and_sets_the_password_once(app, client, owner, mailed_link, smtp_server):
    [received] = smtp_server.to("owner@example.com")
    message = received.message
    assert message["Subject"] == "Reset your Postroom password"
    assert len(mailed_link) == 43  # 256 bits, URL-safe base64
    row = db.session.scalar(sa.select(SentEmail))
    assert row.status == EmailStatus.DELIVERED and row.kind == EmailKind.PASSWORD_RESET
    assert message["Message-ID"] == row.message_id

    form = client.get(f"/password/reset/{mailed_link}")
    assert form.status_code == 200 and "Choose a new password" in form.text
    assert form.headers["Referrer-Policy"] == "no-referrer" and form.headers["Cache-Control"] == "no-store"

    done = _set(client, mailed_link)

    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert accounts.password_matches(user("owner@example.com").password_hash, NEW)
    assert log_in(app.test_client(), "owner@example.com", PASSWORD).status_code == 200
    assert log_in(app.test_client(), "owner@example.com", NEW).status_code == 302
    assert not logged_in(client)  # the reset logs nobody in
    [event] = events("password_reset")
    assert event.user_id == owner.id

    again = _set(app.test_client(), mailed_link, "yet another passphrase")
    assert again.status_code == 404 and "This link is not valid" in again.text
    assert accounts.password_matches(user("owner@example.com").password_hash, NEW)


def test_the_token_is_stored_only_as_its_hash(app, owner, mailed_link):
    """No column of any table holds the token: a copy of the database holds no usable link."""
    [row] = db.session.scalars(sa.select(PasswordResetToken))
    assert row.token_hash == hashlib.sha256(mailed_link.encode()).hexdigest()
    for table in db.metadata.sorted_tables:
        for values in db.session.execute(sa.select(table)):
            assert not any(mailed_link in str(value) for value in values), table.name
    assert (row.expires_at - row.created_at) == timedelta(hours=1) and row.used_at is None


def test_forged_expired_and_used_links_get_the_same_page(app, client, owner, mailed_link):
    forged = client.get("/password/reset/" + "A" * 43)
    tampered = client.get("/password/reset/" + mailed_link[:-1] + ("A" if mailed_link[-1] != "A" else "B"))
    too_long = client.get("/password/reset/" + "A" * 500)
    db.session.execute(sa.update(PasswordResetToken).values(expires_at=PasswordResetToken.created_at))
    db.session.commit()
    expired = client.get(f"/password/reset/{mailed_link}")

    pages = {r.status_code for r in (forged, tampered, too_long, expired)}
    bodies = {re.sub(r'"X-CSRFToken": "[^"]+"', "-", r.text) for r in (forged, tampered, too_long, expired)}
    assert pages == {404} and len(bodies) == 1
    assert expired.headers["Referrer-Policy"] == "no-referrer"
    page = client.get("/password/forgot")
    post_expired = client.post(
        f"/password/reset/{mailed_link}",
        data={"new_password": NEW, "new_password_again": NEW, "csrf_token": csrf_token(page.text)},
    )
    assert post_expired.status_code == 404
    assert accounts.password_matches(user("owner@example.com").password_hash, PASSWORD)


def test_a_refused_password_keeps_the_link_usable(app, client, owner, mailed_link):
    short = _set(client, mailed_link, "short")
    differ = _set(client, mailed_link, NEW, "something else entirely")
    assert short.status_code == differ.status_code == 422
    assert "Password must be at least 10 characters." in short.text and "The two passwords differ." in differ.text
    assert _set(client, mailed_link).status_code == 302


def test_using_one_link_voids_the_others_and_so_does_a_password_change(app, owner, run_jobs, smtp_server):
    client = app.test_client()
    _ask(client, "owner@example.com")
    _ask(client, "owner@example.com")
    run_jobs()
    first, second = _links(smtp_server, "owner@example.com")
    assert _set(client, second).status_code == 302
    assert client.get(f"/password/reset/{first}").status_code == 404

    _ask(client, "owner@example.com")
    run_jobs()
    third = _links(smtp_server, "owner@example.com")[-1]
    signed = signed_in(app, "owner@example.com", NEW)
    data = {"current_password": NEW, "new_password": "changed by hand", "new_password_again": "changed by hand"}
    assert post(signed, "/account/password", data, page="/account/password").status_code == 302
    assert client.get(f"/password/reset/{third}").status_code == 404


def test_a_reset_ends_every_session(app, owner, mailed_link):
    laptop, phone = signed_in(app, "owner@example.com"), signed_in(app, "owner@example.com")

    assert _set(app.test_client(), mailed_link).status_code == 302

    assert not logged_in(laptop) and not logged_in(phone)


def test_a_reset_never_skips_the_two_factor_step(app, owner, run_jobs, smtp_server):
    secret = totp.new_secret()
    user_row = user("owner@example.com")
    user_row.totp_secret = secret
    db.session.commit()
    waiting = app.test_client()
    assert log_in(waiting, "owner@example.com").headers["Location"] == "/login/code"  # mid-login

    client = app.test_client()
    _ask(client, "owner@example.com")
    run_jobs()
    [token] = _links(smtp_server, "owner@example.com")
    assert _set(client, token).status_code == 302
    assert not logged_in(client)

    # The half-finished login from before the reset is void, and a new one still asks for the code.
    assert waiting.get("/login/code").status_code == 302
    fresh = app.test_client()
    response = log_in(fresh, "owner@example.com", NEW)
    assert response.status_code == 302 and response.headers["Location"] == "/login/code"
    assert not logged_in(fresh)
    page = fresh.get("/login/code")
    done = fresh.post("/login/code", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(page.text)})
    assert done.status_code == 302 and logged_in(fresh)


def test_requests_are_limited_per_address_and_per_client_address(app, owner, run_jobs, smtp_server):
    client = app.test_client()
    answers = set()
    for i in range(5):
        answers.add(_normalised(_ask(client, "owner@example.com", ip=f"10.3.0.{i}"), "owner@example.com"))
    run_jobs()
    assert len(_links(smtp_server, "owner@example.com")) == app.config["PASSWORD_RESET_MAX_PER_ADDRESS"] == 3
    assert len(answers) == 1  # the refused ones look the same

    smtp_server.reset()
    db.session.execute(sa.delete(PasswordResetToken))
    db.session.commit()
    app.extensions["redis"].flushdb()
    for i in range(app.config["PASSWORD_RESET_MAX_PER_IP"]):
        _ask(client, f"someone{i}@example.com", ip="10.4.0.1")
    _ask(client, "owner@example.com", ip="10.4.0.1")
    _ask(client, "owner@example.com", ip="10.4.0.2")
    run_jobs()
    assert len(_links(smtp_server, "owner@example.com")) == 1  # the one from another client address


def test_a_link_that_can_no_longer_be_used_is_not_sent(app, client, owner, run_jobs, smtp_server):
    _ask(client, "owner@example.com")
    db.session.execute(sa.update(PasswordResetToken).values(expires_at=PasswordResetToken.created_at))
    db.session.commit()
    run_jobs()
    assert smtp_server.to("owner@example.com") == []
    row = db.session.scalar(sa.select(SentEmail))
    assert row.status == EmailStatus.FAILED and "expired" in row.reason
