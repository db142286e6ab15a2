"""Instance operators (app/web/ops/operators.py): rq-dashboard, /metrics and registration span every
account, so a tenant's admin gets none of them; the operator does, by configuration only."""

from __future__ import annotations

import pytest
from rq import Queue

from app.extensions import db
from app.models import Role, Setting
from app.services import accounts
from tests.conftest import PASSWORD, csrf_token

ELSEWHERE = {"REMOTE_ADDR": "203.0.113.7"}
TOKEN = "metrics-token-for-operators"


@pytest.fixture
def people(app, make_user, separate_sessions):
    """The first account's admin (``ensure-admin``'s), its marketer, and another tenant's admin."""
    first = make_user("admin@example.com")
    assert first.account_id == 1
    make_user("marketer@example.com", Role.MARKETER, first.account.name)
    tenant = make_user("tenant@example.com")
    assert tenant.account_id != 1 and tenant.role == Role.ADMIN
    return first, tenant


def sign_in(app, email: str):
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    return client


def uses_rq_dashboard(client) -> bool:
    response = client.get("/admin/rq/")
    assert response.status_code in (200, 404)
    if response.status_code == 404:
        assert "RQ dashboard" not in response.text
        assert 'href="/admin/rq/"' not in client.get("/status").text
        return False
    assert "RQ dashboard" in response.text and 'href="/admin/rq/"' in client.get("/status").text
    return True


def test_by_default_the_first_accounts_admins_operate_and_other_tenants_admins_do_not(app, people, redis_conn):
    Queue(app.config["RQ_QUEUE"], connection=redis_conn).enqueue("math.sqrt", 4)
    assert uses_rq_dashboard(sign_in(app, "admin@example.com"))
    tenant = sign_in(app, "tenant@example.com")
    assert not uses_rq_dashboard(tenant)
    assert tenant.get("/admin/rq/0/data/queues.json").status_code == 404  # the JSON with every tenant's jobs
    assert not uses_rq_dashboard(sign_in(app, "marketer@example.com"))


def test_operator_emails_name_the_operators_instead(app, people, monkeypatch):
    monkeypatch.setitem(app.config, "OPERATOR_EMAILS", " Ops@Example.com, tenant@example.com ,")
    assert uses_rq_dashboard(sign_in(app, "tenant@example.com"))
    assert not uses_rq_dashboard(sign_in(app, "admin@example.com"))  # no longer the default


def test_a_disabled_operator_is_none(app, people, monkeypatch):
    first, _ = people
    client = sign_in(app, "admin@example.com")
    first.active = False
    db.session.commit()
    response = client.get("/admin/rq/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_metrics_for_a_signed_in_operator_a_token_or_loopback_only(app, people, monkeypatch):
    operator, tenant = sign_in(app, "admin@example.com"), sign_in(app, "tenant@example.com")
    for client in (operator, tenant):
        client.environ_base.update(ELSEWHERE)

    assert operator.get("/metrics").status_code == 200 and "postroom_emails" in operator.get("/metrics").text
    refused = tenant.get("/metrics")
    assert refused.status_code == 403 and "postroom_" not in refused.text

    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    assert operator.get("/metrics").status_code == 200  # the session is enough
    refused = tenant.get("/metrics")
    assert refused.status_code == 401 and "postroom_" not in refused.text
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert app.test_client().get("/metrics", headers=bearer, environ_base=ELSEWHERE).status_code == 200
    assert app.test_client().get("/metrics").status_code == 401  # loopback too, once a token is set


def test_only_the_operator_changes_registration(app, people):
    tenant = sign_in(app, "tenant@example.com")
    page = tenant.get("/settings")
    assert page.status_code == 200 and 'name="registration_open"' not in page.text
    assert "Registration is <strong>open</strong>" in page.text
    refused = tenant.post("/settings", data={"registration_open": "0", "csrf_token": csrf_token(page.text)})
    assert refused.status_code == 403 and "only its operator" in refused.text
    assert accounts.registration_open() and db.session.get(Setting, accounts.REGISTRATION_KEY) is None

    operator = sign_in(app, "admin@example.com")
    page = operator.get("/settings")
    assert 'name="registration_open"' in page.text
    operator.post("/settings", data={"registration_open": "0", "csrf_token": csrf_token(page.text)})
    db.session.expire_all()
    assert not accounts.registration_open()


def test_the_setting_is_read_from_the_environment(monkeypatch):
    from app.config import load_settings

    monkeypatch.setenv("OPERATOR_EMAILS", "ops@example.com")
    assert load_settings()["OPERATOR_EMAILS"] == "ops@example.com"
    monkeypatch.delenv("OPERATOR_EMAILS")
    assert load_settings()["OPERATOR_EMAILS"] == ""


def test_the_outbox_holds_every_accounts_mail_so_only_the_operator_opens_it(app, people):
    app.config["DEV_CATCHER"] = True
    try:
        operator, tenant = sign_in(app, "admin@example.com"), sign_in(app, "tenant@example.com")
        assert operator.get("/outbox").status_code == 200
        assert 'href="/outbox"' in operator.get("/").text
        assert tenant.get("/outbox").status_code == 404
        assert 'href="/outbox"' not in tenant.get("/").text
    finally:
        app.config["DEV_CATCHER"] = False
