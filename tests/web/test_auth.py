"""Register, log in, log out, and an admin closing registration."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Role, User
from tests.conftest import PASSWORD, csrf_token


def test_register_creates_an_account_and_logs_in(client):
    page = client.get("/register")
    response = client.post(
        "/register", data={"email": "new@example.com", "password": PASSWORD, "csrf_token": csrf_token(page.text)}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    user = db.session.scalar(sa.select(User).where(User.email == "new@example.com"))
    assert user.role == Role.ADMIN and user.password_hash.startswith("$argon2id$")


def test_short_password_is_refused(client):
    page = client.get("/register")
    client.post(
        "/register", data={"email": "new@example.com", "password": "short", "csrf_token": csrf_token(page.text)}
    )
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_admin_closes_registration(client, auth, make_user):
    make_user()
    auth.login()
    page = client.get("/settings")
    client.post("/settings", data={"registration_open": "0", "csrf_token": csrf_token(page.text)})
    auth.logout()
    assert client.get("/register").status_code == 403
    assert "Create one" not in client.get("/login").text


def test_wrong_password_and_unknown_user_get_the_same_answer(client, make_user):
    make_user()
    page = client.get("/login")
    token = csrf_token(page.text)
    wrong = client.post(
        "/login", data={"email": "owner@example.com", "password": "nope-nope-nope", "csrf_token": token}
    )
    unknown = client.post(
        "/login", data={"email": "ghost@example.com", "password": "nope-nope-nope", "csrf_token": token}
    )
    assert wrong.status_code == unknown.status_code == 200
    assert "Wrong e-mail or password" in wrong.text and "Wrong e-mail or password" in unknown.text


def test_login_ignores_next_parameter(client, make_user):
    make_user()
    page = client.get("/login?next=https://evil.example.com/")
    response = client.post(
        "/login?next=https://evil.example.com/",
        data={"email": "owner@example.com", "password": PASSWORD, "csrf_token": csrf_token(page.text)},
    )
    assert response.headers["Location"] == "/"


def test_logout_needs_post_with_csrf(client, auth, make_user):
    make_user()
    auth.login()
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token
    assert auth.logout().status_code == 302
    assert client.get("/").status_code == 302


def test_non_admins_cannot_reach_settings_or_outbox(app, client, auth, make_user):
    make_user("marketer@example.com", role=Role.MARKETER)
    auth.login("marketer@example.com")
    assert client.get("/settings").status_code == 404
    app.config["DEV_CATCHER"] = True
    try:
        assert client.get("/outbox").status_code == 404
    finally:
        app.config["DEV_CATCHER"] = False


def test_outbox_is_hidden_when_a_real_relay_is_configured(client, auth, make_user):
    make_user()
    auth.login()
    assert client.get("/outbox").status_code == 404
