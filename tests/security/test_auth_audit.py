"""The audit log records who changed users and API tokens, in the transaction of the change."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ApiToken, Role
from app.services import accounts
from tests.conftest import PASSWORD, csrf_token
from tests.security.auth_support import events, post, signed_in, user

pytestmark = pytest.mark.usefixtures("separate_sessions")


@pytest.fixture
def admin_client(app, make_user):
    make_user("admin@example.com")
    return signed_in(app, "admin@example.com")


def _actions() -> list[tuple[str, str, str]]:
    return [(e.action, e.actor, e.target) for e in events() if e.action not in ("login", "login_failed")]


def test_user_changes_name_the_admin_who_made_them(app, admin_client):
    admin = user("admin@example.com")
    post(admin_client, "/users", {"email": "sam@example.com", "password": PASSWORD, "role": "support"}, page="/users")
    sam = user("sam@example.com")
    post(admin_client, f"/users/{sam.id}/role", {"role": "marketer"}, page="/users")
    post(admin_client, f"/users/{sam.id}/role", {"role": "marketer"}, page="/users")  # no change, no event
    post(admin_client, f"/users/{sam.id}/disable", page="/users")
    post(admin_client, f"/users/{sam.id}/enable", page="/users")

    target = "user sam@example.com"
    assert _actions() == [
        ("user_created", "admin@example.com", target),
        ("role_changed", "admin@example.com", target),
        ("user_disabled", "admin@example.com", target),
        ("user_enabled", "admin@example.com", target),
    ]
    created, changed = events("user_created")[0], events("role_changed")[0]
    assert created.detail == {"role": "support"} and changed.detail == {"from": "support", "to": "marketer"}
    assert {e.account_id for e in events()} == {admin.account_id}
    assert {e.user_id for e in events() if e.action != "login"} == {admin.id}


def test_a_refused_change_leaves_no_event(app, admin_client):
    admin = user("admin@example.com")
    response = post(admin_client, f"/users/{admin.id}/role", {"role": "support"}, page="/users")
    assert response.status_code == 302  # refused: the last admin
    assert user("admin@example.com").role == Role.ADMIN
    assert events("role_changed") == []


def test_tokens_made_and_revoked_are_recorded(app, admin_client):
    assert post(admin_client, "/tokens", {"name": "Shop"}, page="/tokens").status_code == 200
    token_id = db.session.scalar(sa.select(ApiToken.id))
    [created] = events("token_created")
    assert created.actor == "admin@example.com" and created.user_id == user("admin@example.com").id
    assert created.target.startswith("token pr_") and created.target.endswith("(Shop)")

    assert post(admin_client, f"/tokens/{token_id}/revoke", page="/tokens").status_code == 302
    post(admin_client, f"/tokens/{token_id}/revoke", page="/tokens")  # already revoked: no second event

    [revoked] = events("token_revoked")
    assert revoked.target == created.target and revoked.user_id == created.user_id


def test_a_token_made_on_the_command_line_names_it(app, make_user):
    owner = make_user()
    accounts.create_token("owner@example.com", "deploy")
    [event] = events("token_created")
    assert (event.actor, event.user_id, event.account_id) == ("command line", owner.id, owner.account_id)


def test_a_sign_up_is_recorded(app, client):
    page = client.get("/register")
    client.post(
        "/register", data={"email": "new@example.com", "password": PASSWORD, "csrf_token": csrf_token(page.text)}
    )
    [event] = events("user_created")
    assert event.actor == "new@example.com" and event.detail == {"role": "admin", "via": "sign-up"}
