"""The providers pages: list with live numbers, add, edit (the password stays hidden), delete."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.delivery import providers as engine
from app.delivery.breaker import Breaker
from app.extensions import db
from app.models import Provider, Role
from app.models.base import utcnow
from app.services import providers
from tests.conftest import PASSWORD, csrf_token

SECRET = "s3cret-Pa55"


@pytest.fixture
def owner(make_user, auth):
    user = make_user()
    auth.login()
    return user


def _form(**overrides) -> dict:
    data = {
        "name": "Relay A",
        "host": "smtp.relay.test",
        "port": "587",
        "security": "starttls",
        "username": "apikey",
        "password": SECRET,
        "priority": "0",
        "weight": "1",
        "max_per_second": "",
        "daily_cap": "",
        "warmup": "",
        "enabled": "y",
    }
    return data | overrides


def _post(client, url, **overrides):
    page = client.get(url)
    return client.post(url, data=_form(csrf_token=csrf_token(page.text), **overrides))


def _only() -> Provider:
    db.session.expire_all()
    return db.session.scalar(sa.select(Provider))


def test_pages_need_a_login(client):
    for url in ("/providers", "/providers/new"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_empty_list_says_the_instance_default_is_used(client, owner):
    page = client.get("/providers")

    assert page.status_code == 200
    assert "instance&#39;s default relay" in page.text or "instance's default relay" in page.text
    assert 'href="/providers/new"' in page.text
    assert 'aria-current="page">Providers' in page.text


def test_add_a_provider(client, owner):
    response = _post(client, "/providers/new", max_per_second="12.5", daily_cap="10000", warmup="50, 100,200")

    assert response.status_code == 302 and response.headers["Location"] == "/providers"
    provider = _only()
    assert provider.account_id == owner.account_id
    assert provider.smtp_url == f"smtp://apikey:{SECRET}@smtp.relay.test:587?security=starttls"
    assert (provider.max_per_second, provider.daily_cap, provider.warmup_schedule) == (12.5, 10000, "50,100,200")
    assert provider.warmup_started_at is not None
    page = client.get("/providers")
    assert "Relay A" in page.text
    assert "smtp://apikey:***@smtp.relay.test:587?security=starttls" in page.text
    assert "day 1 of 3: cap 50 today, 0 sent" in page.text
    assert SECRET not in page.text


def test_the_password_is_never_shown_and_kept_when_left_empty(client, owner):
    _post(client, "/providers/new")
    provider = _only()

    edit = client.get(f"/providers/{provider.id}/edit")
    assert edit.status_code == 200
    assert SECRET not in edit.text
    assert 'value="smtp.relay.test"' in edit.text and 'value="apikey"' in edit.text
    assert "Leave empty to keep the current password." in edit.text

    response = _post(client, f"/providers/{provider.id}/edit", password="", port="2525", name="Relay B")
    assert response.status_code == 302
    provider = _only()
    assert provider.name == "Relay B"
    assert provider.smtp_url == f"smtp://apikey:{SECRET}@smtp.relay.test:2525?security=starttls"

    _post(client, f"/providers/{provider.id}/edit", password="n3w:p@ss/word", port="2525")
    assert _only().smtp_url == "smtp://apikey:n3w%3Ap%40ss%2Fword@smtp.relay.test:2525?security=starttls"


def test_errors_are_shown_on_their_fields_and_nothing_is_saved(client, owner):
    for overrides, message in [
        ({"warmup": "50,lots"}, "warmup must be daily caps separated by commas"),
        ({"weight": "-1"}, "weight must be between 0 and"),
        ({"max_per_second": "0"}, "max_per_second must be above 0"),
        ({"port": "70000"}, "smtp_url is not valid"),
    ]:
        response = _post(client, "/providers/new", **overrides)
        assert response.status_code == 200
        assert message in response.text
        assert SECRET not in response.text
    assert _only() is None

    response = _post(client, "/providers/new", host="smtp.relay.test/x?y")
    assert response.status_code == 200 and "Enter a host name." in response.text
    assert _only() is None


def test_names_are_unique_per_account(client, owner):
    _post(client, "/providers/new")

    response = _post(client, "/providers/new", name="relay a")

    assert response.status_code == 200
    assert "you already have a provider called" in response.text
    assert db.session.scalar(sa.select(sa.func.count(Provider.id))) == 1


def test_delete_needs_the_csrf_token(client, owner):
    _post(client, "/providers/new")
    provider = _only()

    assert client.post(f"/providers/{provider.id}/delete").status_code == 400
    assert _only() is not None

    token = csrf_token(client.get("/providers").text)
    response = client.post(f"/providers/{provider.id}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    assert _only() is None


def test_the_list_shows_breaker_caps_and_warmup_progress(client, owner, redis_conn):
    provider = providers.create(owner.account_id, "warming", "smtp://w.test:25", warmup="50,100,200,400,800")
    provider.warmup_started_at = utcnow() - timedelta(days=2)
    db.session.commit()
    engine.record_sent(redis_conn, engine.Choice("warming", provider.id, "smtp://w.test:25"), n=57)
    capped = providers.create(owner.account_id, "capped", "smtp://c.test:25", daily_cap=3, priority=2)
    engine.record_sent(redis_conn, engine.Choice("capped", capped.id, "smtp://c.test:25"), n=3)
    Breaker(redis_conn, f"provider:{capped.id}", threshold=1).record_failure()

    page = client.get("/providers").text

    assert "day 3 of 5: cap 200 today, 57 sent" in page
    assert "57 / 200" in page
    assert "cap reached" in page
    assert "badge-breaker-open" in page and "badge-breaker-closed" in page
    assert page.index("warming") < page.index("capped")  # in the order they are tried


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SUPPORT])
def test_only_admins_change_providers(client, auth, make_user, role):
    admin = make_user("admin@example.com")
    provider = providers.create(admin.account_id, "relay", "smtp://relay.test:25")
    make_user("staff@example.com", role=role, account=admin.account.name)
    auth.login("staff@example.com", PASSWORD)

    page = client.get("/providers")
    assert page.status_code == 200 and "relay" in page.text
    assert "/providers/new" not in page.text and "/edit" not in page.text
    token = csrf_token(page.text)
    assert client.get("/providers/new").status_code == 404
    assert client.get(f"/providers/{provider.id}/edit").status_code == 404
    assert client.post(f"/providers/{provider.id}/delete", data={"csrf_token": token}).status_code == 404
    assert _only() is not None


def test_redis_down_still_lists_providers(client, owner, app, monkeypatch):
    import redis

    providers.create(owner.account_id, "relay", "smtp://relay.test:25")
    monkeypatch.setitem(app.extensions, "redis", redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))

    page = client.get("/providers")

    assert page.status_code == 200
    assert "relay" in page.text and "badge-breaker-unknown" in page.text


def test_another_accounts_providers_are_not_listed(client, owner, make_user):
    other = make_user("other@example.com")
    providers.create(other.account_id, "Their relay", "smtp://them:pw@their-relay.test:25")

    page = client.get("/providers").text

    assert "Their relay" not in page and "their-relay.test" not in page
