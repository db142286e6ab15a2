"""The API tokens page: create (shown once), list, revoke, through real forms with CSRF."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiToken, Role
from app.services import accounts
from tests.conftest import PASSWORD, csrf_token

TOKEN = re.compile(r"pr_([0-9a-f]{12})_([A-Za-z0-9_-]{32})")


@pytest.fixture
def owner(app, make_user, auth):
    user = make_user()
    auth.login()
    return user


def post_form(client, url: str, data: dict, page: str = "/tokens"):
    return client.post(url, data={"csrf_token": csrf_token(client.get(page).text), **data})


def create(client, name: str = "Shop checkout") -> str:
    page = post_form(client, "/tokens", {"name": name})
    assert page.status_code == 200, page.text
    return TOKEN.search(page.text).group(0)


def lists_status(client, token: str) -> int:
    return client.get("/api/v1/lists", headers={"Authorization": f"Bearer {token}"}).status_code


def stored_tokens() -> list[ApiToken]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id)))


def test_the_page_needs_login(client):
    for url in ("/tokens", "/tokens/1/revoke"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_every_user_finds_the_page_in_the_navigation(client, make_user, auth):
    make_user("support@example.com", Role.SUPPORT)
    auth.login("support@example.com", PASSWORD)

    page = client.get("/tokens")

    assert page.status_code == 200
    assert 'aria-current="page">API tokens</a>' in page.text
    assert "No API tokens yet" in page.text


def test_a_new_token_is_shown_once_and_works(client, owner):
    page = post_form(client, "/tokens", {"name": "Shop checkout"})

    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "you will not see it again" in page.text
    token = TOKEN.search(page.text)
    assert token and 'id="copy-token"' in page.text
    assert lists_status(client, token.group(0)) == 200
    listing = client.get("/tokens").text
    assert "Shop checkout" in listing and f"pr_{token.group(1)}_…" in listing and "owner@example.com" in listing
    assert token.group(2) not in listing


def test_only_the_prefix_and_a_hash_are_stored(client, owner):
    token = create(client)
    _, prefix, secret = token.split("_", 2)

    [row] = stored_tokens()
    columns = [str(getattr(row, column.key)) for column in ApiToken.__table__.columns]

    assert row.prefix == prefix and row.name == "Shop checkout" and row.user_id == owner.id
    assert not any(secret in value for value in columns)
    assert row.last_used_at is None and row.revoked_at is None


@pytest.mark.parametrize(
    ("name", "error"), [("", "Name the token after what will use it."), ("x" * 101, "at most 100 characters")]
)
def test_a_token_needs_a_short_name(client, owner, name, error):
    page = post_form(client, "/tokens", {"name": name})

    assert page.status_code == 200
    assert error in page.text
    assert not TOKEN.search(page.text)
    assert stored_tokens() == []


def test_creating_needs_the_csrf_token(client, owner):
    response = client.post("/tokens", data={"name": "Forged"})

    assert response.status_code == 400
    assert stored_tokens() == []


def test_revoking_asks_first_then_the_api_refuses_the_token_at_once(client, owner):
    token = create(client, "CI deploy")
    assert lists_status(client, token) == 200
    [row] = stored_tokens()

    confirm = client.get(f"/tokens/{row.id}/revoke")
    assert confirm.status_code == 200
    assert "Revoke “CI deploy”?" in confirm.text and "401 Unauthorized" in confirm.text
    assert stored_tokens()[0].revoked_at is None  # the GET changed nothing
    response = post_form(client, f"/tokens/{row.id}/revoke", {}, page=f"/tokens/{row.id}/revoke")

    assert response.status_code == 302
    assert stored_tokens()[0].revoked_at is not None
    assert lists_status(client, token) == 401
    listing = client.get(response.headers["Location"]).text
    assert "is revoked" in listing and "badge-revoked" in listing


def test_revoking_needs_the_csrf_token(client, owner):
    create(client)
    [row] = stored_tokens()

    assert client.post(f"/tokens/{row.id}/revoke").status_code == 400
    assert stored_tokens()[0].revoked_at is None


def test_revoking_twice_keeps_the_first_time(client, owner):
    create(client)
    [row] = stored_tokens()
    post_form(client, f"/tokens/{row.id}/revoke", {})
    first = stored_tokens()[0].revoked_at

    post_form(client, f"/tokens/{row.id}/revoke", {})

    assert stored_tokens()[0].revoked_at == first


def test_cli_tokens_are_listed_and_last_use_shows(client, owner):
    token = accounts.create_token("owner@example.com", "from the CLI")
    lists_status(client, token)

    listing = client.get("/tokens").text

    assert "from the CLI" in listing
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", listing)


def test_admins_see_all_the_accounts_tokens_others_their_own(app, client, make_user, auth):
    admin = make_user("admin@example.com")
    account = admin.account.name
    marketer = make_user("marketer@example.com", Role.MARKETER, account)
    make_user("stranger@example.com")
    mine = accounts.issue_token(admin, "Admin key")[0]
    theirs = accounts.issue_token(marketer, "Marketer key")[0]
    accounts.create_token("stranger@example.com", "Stranger key")

    auth.login("marketer@example.com", PASSWORD)
    page = client.get("/tokens").text
    assert "Marketer key" in page and "Admin key" not in page and "Stranger key" not in page
    assert client.get(f"/tokens/{mine.id}/revoke").status_code == 404
    assert post_form(client, f"/tokens/{mine.id}/revoke", {}).status_code == 404
    assert stored_tokens()[0].revoked_at is None
    auth.logout()

    auth.login("admin@example.com", PASSWORD)
    page = client.get("/tokens").text
    assert "Marketer key" in page and "Admin key" in page and "Stranger key" not in page
    assert "marketer@example.com" in page
    assert post_form(client, f"/tokens/{theirs.id}/revoke", {}).status_code == 302
    assert db.session.get(ApiToken, theirs.id).revoked_at is not None
