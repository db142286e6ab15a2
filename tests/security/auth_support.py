"""Helpers for the login, session, two-factor and password-reset tests: clients that keep their
sessions apart, a login from a chosen client address, and a look at the audit log."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pyotp
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, User
from tests.conftest import PASSWORD, csrf_token

MESSAGE = re.compile(r'<p class="flash flash-error">([^<]*)</p>')


def log_in(client, email: str, password: str = PASSWORD, ip: str = "127.0.0.1"):
    """POST the login form (with a fresh CSRF token) from client address ``ip``."""
    environ = {"REMOTE_ADDR": ip}
    page = client.get("/login", environ_base=environ)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(page.text)},
        environ_base=environ,
    )


def signed_in(app, email: str, password: str = PASSWORD):
    """A new client, logged in (no second factor)."""
    client = app.test_client()
    response = log_in(client, email, password)
    assert response.status_code == 302 and response.headers["Location"] == "/", response.text
    return client


def post(client, url: str, data: dict | None = None, page: str = "/", **kwargs):
    """POST a form with the CSRF token of ``page``, as the dashboard's forms do."""
    return client.post(url, data={"csrf_token": csrf_token(client.get(page, **kwargs).text), **(data or {})}, **kwargs)


def logged_in(client) -> bool:
    """Whether the client's session opens the dashboard (a revoked one is sent to /login)."""
    response = client.get("/lists")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def user(email: str) -> User:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.email == email))


def events(action: str | None = None) -> list[AuditEvent]:
    db.session.expire_all()
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(db.session.scalars(stmt))


def flash_error(html: str) -> str:
    match = MESSAGE.search(html)
    return match.group(1) if match else ""


def code_after(secret: str, last_step: int | None) -> str:
    """A valid code whose time step is later than ``last_step`` (the current one or the next)."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(datetime.fromtimestamp(time.time(), tz=UTC))
    if last_step is not None and step <= last_step:
        step = last_step + 1
    return totp.generate_otp(step)
