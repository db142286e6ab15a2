"""Roles: every dashboard route and every API write, called for real as admin, marketer and support.

The census enumerates ``app.url_map``: each dashboard route (everything but the API, the public
pages, tracking, login, /metrics, rq-dashboard and static files) is called with every method it
takes, with real ids from one account and a valid CSRF token. A call the role policy refuses
must answer 403 (or the area's own 404) and leave every row of every table as it was, and send
no mail; a call it allows must not answer 403. A new route needs no case here, only an id for any
new kind of path argument (in ``world``).
"""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from app.api.openapi import OPERATIONS
from app.extensions import db
from app.models import Role, SentEmail, WebhookDelivery
from app.services import (
    accounts,
    imports,
    lists,
    permissions,
    providers,
    subscribers,
    suppressions,
    templates,
    webhooks,
)
from app.web import access
from app.web.ops import rq_admin
from app.webhooks import outbox
from tests.conftest import PASSWORD, csrf_token
from tests.factories import add_subscribers, make_campaign

NOT_DASHBOARD = {"", "api", "auth", "public", "tracking", "ops", rq_admin.BLUEPRINT}
USERS = {Role.ADMIN: "admin@example.com", Role.MARKETER: "marketer@example.com", Role.SUPPORT: "support@example.com"}
_ARGUMENT = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


@pytest.fixture
def world(app, make_user, separate_sessions):
    """One account with one of everything, a user per role, and each user's own API token."""
    admin = make_user(USERS[Role.ADMIN])
    account = admin.account.name
    users = {Role.ADMIN: admin}
    for role in (Role.MARKETER, Role.SUPPORT):
        users[role] = make_user(USERS[role], role, account)
    colleague = make_user("colleague@example.com", Role.MARKETER, account)
    aid = admin.account_id
    mailing_list = lists.create(aid, "Newsletter", "", False)
    add_subscribers(aid, mailing_list.id, 2)
    pending = subscribers.add(aid, mailing_list.id, "pending@example.com", "Pending", "pending")
    campaign = make_campaign(aid, mailing_list.id)
    endpoint = webhooks.create(aid, "https://hooks.example.com/a", ["email.delivered"])
    [delivery] = outbox.emit(db.session, aid, "email.delivered", {"email_id": 1})
    db.session.commit()
    upload = imports.create(aid, mailing_list.id, io.BytesIO(b"imported@example.com\n"), "crm.csv")
    tokens = {role: accounts.issue_token(user, f"{role.value} key") for role, user in users.items()}
    return {
        "users": users,
        "tokens": {role: plaintext for role, (_token, plaintext) in tokens.items()},
        "ids": {
            "list_id": mailing_list.id,
            "subscriber_id": pending.id,
            "campaign_id": campaign.id,
            "email_id": db.session.scalar(sa.select(SentEmail.id)),
            "suppression_id": suppressions.add(aid, "blocked@example.com").id,
            "provider_id": providers.create(aid, "Relay", "smtp://relay.test:25").id,
            "template_id": templates.create(aid, {"name": "Receipt", "html": "<p>Hi</p>"}).id,
            "endpoint_id": endpoint.id,
            "webhook_id": endpoint.id,
            "delivery_id": delivery,
            "import_id": upload.id,
            "user_id": colleague.id,
            "key": "nothing",
            "email": "blocked@example.com",
        },
        "own_token_ids": {role: token.id for role, (token, _plaintext) in tokens.items()},
    }


def _dashboard_rules(app) -> list:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.rpartition(".")[0] not in NOT_DASHBOARD and rule.endpoint != "static"
    ]


def _calls(app, world, role: Role) -> list[tuple[str, str, str]]:
    """(method, url, blueprint) for every dashboard route and method, with this role's ids."""
    ids = world["ids"] | {"token_id": world["own_token_ids"][role]}
    calls = []
    for rule in _dashboard_rules(app):
        names = _ARGUMENT.findall(rule.rule)
        missing = [n for n in names if n not in ids]
        assert not missing, f"{rule.rule}: the census has no id for {missing}; add one in world()"
        url = _ARGUMENT.sub(lambda m: str(ids[m.group(1)]), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            calls.append((method, url, rule.endpoint.rpartition(".")[0]))
    return calls


def _sign_in(app, email: str):
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(page.text)})
    assert response.status_code == 302
    return client


def _form(client, world) -> dict:
    """Fields that would change something on whichever form they reached, were the call allowed."""
    return {
        "csrf_token": csrf_token(client.get("/").text),
        "email": "x@example.com",
        "password": PASSWORD,
        "name": "Pwned",
        "role": "admin",
        "status": "unsubscribed",
        "confirm": "pending@example.com",
        "subject": "pwned",
        "list_id": str(world["ids"]["list_id"]),
        "from_email": "a@example.com",
        "body": "x",
        "body_format": "markdown",
        "url": "https://evil.example.com/hook",
        "events": "email.delivered",
        "reason": "manual",
        "addresses": "more@example.com",
        "registration_open": "0",
        "tracking": "off",
        "host": "evil.example.com",
        "port": "25",
    }


def _database() -> list:
    """Every row of every table: a refused call must leave all of it as it was."""
    db.session.expire_all()
    return [
        (table.name, sorted(tuple(str(v) for v in row) for row in db.session.execute(sa.select(table))))
        for table in db.metadata.sorted_tables
    ]


def test_every_dashboard_route_is_behind_the_role_policy(app):
    stray = [r.rule for r in _dashboard_rules(app) if r.endpoint.rpartition(".")[0] not in access.DASHBOARD]
    assert not stray, f"routes outside dashboard_blueprint, so outside the role policy: {stray}"
    assert len(_dashboard_rules(app)) >= 60


def test_unknown_areas_are_read_by_all_and_changed_by_admins_only():
    for role in Role:
        assert permissions.allowed(role, "some-new-page", "GET")
        assert permissions.allowed(role, "some-new-page", "POST") == (role == Role.ADMIN)
    assert not permissions.allowed(Role.SUPPORT, "lists", "DELETE")
    assert permissions.allowed(Role.SUPPORT, "lists", "HEAD")


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.MARKETER, Role.ADMIN], ids=lambda r: r.value)
def test_census_every_route_and_method_answers_as_the_policy_says(app, world, smtp_server, role):
    client = _sign_in(app, USERS[role])
    calls = _calls(app, world, role)
    # Refused calls first, while every object still exists; allowed writes (which may delete) last.
    calls.sort(key=lambda c: (permissions.allowed(role, access.area(c[2]), c[0]), c[0] != "GET"))
    wrong, refused_writes = [], []
    for method, url, blueprint in calls:
        allowed = permissions.allowed(role, access.area(blueprint), method)
        before = _database() if not allowed else None
        received = len(smtp_server.received)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.open(url, method=method, data=_form(client, world))
        response.get_data()  # run streamed bodies (CSV exports) to their end
        response.close()
        status = response.status_code
        if status >= 500:
            wrong.append(f"{method} {url}: {status}")
        elif allowed and status == 403:
            wrong.append(f"{method} {url}: 403 though a {role.value} may")
        elif not allowed:
            if status not in (403, 404):
                wrong.append(f"{method} {url}: {status} though a {role.value} may not")
            if _database() != before or len(smtp_server.received) != received:
                wrong.append(f"{method} {url}: refused, yet something changed")
            if method != "GET":
                refused_writes.append(blueprint)
    assert not wrong, "\n".join(wrong)
    if role == Role.SUPPORT:
        writes = [c for c in calls if c[0] != "GET" and c[2] != "account"]  # but their own password
        assert len(refused_writes) == len(writes) >= 40  # support changes nothing, anywhere
    if role == Role.MARKETER:
        assert set(refused_writes) == {"users", "admin", "providers", "webhooks", "outbox"}


def test_a_refused_write_shows_the_normal_error_page(app, world):
    client = _sign_in(app, USERS[Role.SUPPORT])

    response = client.post(f"/lists/{world['ids']['list_id']}/subscribers", data=_form(client, world))

    assert response.status_code == 403
    assert "Forbidden" in response.text and "your role (support) may not change lists" in response.text
    assert '<nav aria-label="Main">' in response.text  # the dashboard's layout, not a bare error


def test_navigation_follows_the_role(app, world):
    pages = {role: _sign_in(app, email).get("/").text for role, email in USERS.items()}

    assert 'href="/users"' in pages[Role.ADMIN] and 'href="/settings"' in pages[Role.ADMIN]
    for role in (Role.MARKETER, Role.SUPPORT):
        assert 'href="/users"' not in pages[role] and 'href="/settings"' not in pages[role]
    for page in pages.values():
        assert 'href="/subscribers"' in page and 'href="/emails"' in page and 'action="/search"' in page


# The API enforces the same policy on bearer tokens.


def _api_calls(world) -> list[tuple[str, str, str]]:
    """(method, path, area) for every authenticated API write, with real ids."""
    calls = []
    for operation in OPERATIONS:
        if not operation.auth or operation.method == "GET":
            continue
        names = _ARGUMENT.findall(operation.rule)
        assert all(n in world["ids"] for n in names), f"{operation.rule}: no id for {names}"
        path = _ARGUMENT.sub(lambda m: str(world["ids"][m.group(1)]), operation.rule)
        area = operation.rule.strip("/").split("/")[0]
        calls.append((operation.method, f"/api/v1{path}", {"subscribers": "lists", "imports": "lists"}.get(area, area)))
    return calls


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.MARKETER], ids=lambda r: r.value)
def test_api_writes_follow_the_role(app, client, world, smtp_server, role):
    headers = {"Authorization": f"Bearer {world['tokens'][role]}", "Idempotency-Key": "census"}
    body = {"name": "Pwned", "email": "x@example.com", "to": "x@example.com", "from_email": "a@example.com"}
    calls = _api_calls(world)
    assert len(calls) >= 20
    assert client.get("/api/v1/lists", headers=headers).status_code == 200  # records the token's use once
    wrong = []
    for method, path, area in calls:
        if permissions.allowed(role, area, method):
            continue
        before = _database()
        response = client.open(path, method=method, json=body, headers=headers)
        if response.status_code != 403 or response.get_json()["error"]["code"] != "forbidden":
            wrong.append(f"{method} {path}: {response.status_code}")
        elif _database() != before:
            wrong.append(f"{method} {path}: refused, yet something changed")
    assert not wrong, "\n".join(wrong)
    assert smtp_server.received == []


def test_api_reads_stay_open_to_support_and_writes_to_marketers(app, client, world):
    support = {"Authorization": f"Bearer {world['tokens'][Role.SUPPORT]}"}
    marketer = {"Authorization": f"Bearer {world['tokens'][Role.MARKETER]}"}
    admin = {"Authorization": f"Bearer {world['tokens'][Role.ADMIN]}"}

    assert client.get("/api/v1/lists", headers=support).status_code == 200
    assert client.get(f"/api/v1/emails/{world['ids']['email_id']}", headers=support).status_code == 200
    refused = client.post("/api/v1/lists", json={"name": "Mine"}, headers=support)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["message"].startswith("your role (support) may not change lists")
    assert client.post("/api/v1/lists", json={"name": "Mine"}, headers=marketer).status_code == 201
    webhook = {"url": "https://hooks.example.com/b", "events": ["email.delivered"]}
    assert client.post("/api/v1/webhooks", json=webhook, headers=marketer).status_code == 403
    assert client.post("/api/v1/webhooks", json=webhook, headers=admin).status_code == 201
    assert db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 1
