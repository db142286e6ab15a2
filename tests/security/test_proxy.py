"""``PROXY_FIX``: behind N trusted proxies the scheme and client address come from X-Forwarded-*;
with 0 (the default) those headers are ignored, since any client can send them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app, security
from app.extensions import db
from app.models.audit import AuditEvent
from app.services import suppressions

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.66, 203.0.113.9"}


@pytest.fixture
def behind_proxies(app, monkeypatch):
    """Wrap the test app as ``create_app`` does for ``PROXY_FIX=n``; unwrapped again afterwards."""

    def wrap(hops: int) -> None:
        monkeypatch.setattr(app, "wsgi_app", app.wsgi_app)  # restored after the test
        monkeypatch.setitem(app.config, "PROXY_FIX", hops)
        security.trust_proxies(app)

    return wrap


def lift(client, api) -> AuditEvent:
    suppressions.add(api.account_id, "bob@example.com")
    response = client.delete("/api/v1/suppressions/bob%40example.com", headers={**FORWARDED, **api.headers})
    assert response.status_code == 204
    db.session.expire_all()
    return db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "suppression_removed")).one()


@pytest.fixture
def api(app, api_token):
    from app.models import User

    class Caller:
        headers = {"Authorization": f"Bearer {api_token}"}
        account_id = db.session.scalar(sa.select(User.account_id))

    return Caller()


def test_with_one_trusted_proxy_https_gives_hsts_and_the_client_address_is_audited(app, client, api, behind_proxies):
    behind_proxies(1)

    page = client.get("/login", headers=FORWARDED)
    assert page.headers["Strict-Transport-Security"] == security.HSTS

    event = lift(client, api)
    assert event.ip == "203.0.113.9"  # the address the trusted proxy saw, not one the client wrote


def test_two_proxies_trust_two_entries(app, client, api, behind_proxies):
    behind_proxies(2)
    assert lift(client, api).ip == "198.51.100.66"


def test_off_by_default_the_forwarded_headers_are_ignored(app, client, api):
    assert app.config["PROXY_FIX"] == 0 and not isinstance(app.wsgi_app, ProxyFix)

    page = client.get("/login", headers=FORWARDED)
    assert "Strict-Transport-Security" not in page.headers

    assert lift(client, api).ip == "127.0.0.1"


def test_create_app_wraps_the_app_when_configured(app):
    settings = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": "redis://127.0.0.1:1/0"}
    assert isinstance(create_app({**settings, "PROXY_FIX": 1}).wsgi_app, ProxyFix)
    assert not isinstance(create_app({**settings, "PROXY_FIX": 0}).wsgi_app, ProxyFix)


def test_the_setting_is_a_count_from_the_environment(monkeypatch):
    from app.config import load_settings

    monkeypatch.setenv("PROXY_FIX", "2")
    assert load_settings()["PROXY_FIX"] == 2
    monkeypatch.setenv("PROXY_FIX", "-1")
    with pytest.raises(ValueError, match="PROXY_FIX must be 0 or more"):
        load_settings()
