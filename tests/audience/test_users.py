"""The Users page: admins add users with a role, change roles, disable and enable; one admin always stays."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Role, User
from app.services import accounts
from tests.audience.conftest import post
from tests.conftest import PASSWORD


def _user(email: str) -> User:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.email == email))


@pytest.fixture
def admin_client(admin, signed_in):
    return signed_in("admin@example.com")


def test_an_admin_adds_a_user_who_can_log_in_with_that_role(admin, admin_client, signed_in):
    response = post(
        admin_client, "/users", {"email": "Sam@Example.com", "password": PASSWORD, "role": "support"}, page="/users"
    )

    assert response.status_code == 302 and response.headers["Location"] == "/users"
    sam = _user("sam@example.com")
    assert sam.role == Role.SUPPORT and sam.account_id == admin.account_id and sam.active
    page = admin_client.get("/users").text
    assert "sam@example.com can now log in as support" in page
    sam_client = signed_in("sam@example.com")
    assert sam_client.get("/subscribers").status_code == 200
    assert sam_client.get("/users").status_code == 403


@pytest.mark.parametrize(
    "data,message",
    [
        ({"email": "not-an-address", "password": PASSWORD, "role": "marketer"}, "not a valid e-mail address"),
        ({"email": "new@example.com", "password": "short", "role": "marketer"}, "at least 10 characters"),
        ({"email": "admin@example.com", "password": PASSWORD, "role": "marketer"}, "already exists"),
        ({"email": "new@example.com", "password": PASSWORD, "role": "owner"}, "Not a valid choice"),
    ],
)
def test_bad_input_is_shown_on_the_form_and_adds_nobody(admin, admin_client, data, message):
    response = post(admin_client, "/users", data, page="/users")

    assert response.status_code == 422
    assert message in response.text
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1


def test_roles_change_but_the_last_admin_stays(admin, admin_client, colleague):
    mark = colleague("mark@example.com", Role.MARKETER)

    assert post(admin_client, f"/users/{mark.id}/role", {"role": "support"}).status_code == 302
    assert _user("mark@example.com").role == Role.SUPPORT
    response = post(admin_client, f"/users/{admin.id}/role", {"role": "marketer"})
    assert "the account&#39;s last admin" in admin_client.get(response.headers["Location"]).text
    assert _user("admin@example.com").role == Role.ADMIN
    post(admin_client, f"/users/{mark.id}/role", {"role": "nonsense"})
    assert _user("mark@example.com").role == Role.SUPPORT

    # With a second admin, the first may step down, and lands where they still may go.
    post(admin_client, f"/users/{mark.id}/role", {"role": "admin"})
    response = post(admin_client, f"/users/{admin.id}/role", {"role": "marketer"})
    assert response.headers["Location"] == "/"
    assert _user("admin@example.com").role == Role.MARKETER
    assert admin_client.get("/users").status_code == 403


def test_a_disabled_admin_does_not_count_as_the_one_that_stays(admin, admin_client, colleague, signed_in):
    other = colleague("other-admin@example.com", Role.ADMIN)
    post(admin_client, f"/users/{other.id}/disable")
    assert not _user("other-admin@example.com").active

    post(admin_client, f"/users/{admin.id}/role", {"role": "support"})
    assert _user("admin@example.com").role == Role.ADMIN
    response = post(admin_client, f"/users/{admin.id}/disable")
    assert "cannot disable yourself" in admin_client.get(response.headers["Location"]).text
    assert _user("admin@example.com").active


def test_disabling_ends_the_session_login_and_tokens_until_enabled(admin, admin_client, colleague, signed_in):
    mark = colleague("mark@example.com", Role.MARKETER)
    _, token = accounts.issue_token(mark, "Mark's key")
    mark_client = signed_in("mark@example.com")
    bearer = {"Authorization": f"Bearer {token}"}
    assert mark_client.get("/lists").status_code == 200

    assert post(admin_client, f"/users/{mark.id}/disable").status_code == 302

    kicked = mark_client.get("/lists")
    assert kicked.status_code == 302 and "/login" in kicked.headers["Location"]
    assert accounts.authenticate("mark@example.com", PASSWORD) is None
    assert admin_client.get("/api/v1/lists", headers=bearer).status_code == 401
    assert "disabled" in admin_client.get("/users").text

    post(admin_client, f"/users/{mark.id}/enable")
    assert _user("mark@example.com").active
    assert signed_in("mark@example.com").get("/lists").status_code == 200
    assert admin_client.get("/api/v1/lists", headers=bearer).status_code == 200


@pytest.mark.parametrize("role", [Role.MARKETER, Role.SUPPORT])
def test_only_admins_manage_users(admin, colleague, signed_in, role):
    colleague("staff@example.com", role)
    client = signed_in("staff@example.com")

    assert client.get("/users").status_code == 403
    assert ">Users</a>" not in client.get("/").text
    for url, data in (
        ("/users", {"email": "x@example.com", "password": PASSWORD, "role": "admin"}),
        (f"/users/{admin.id}/role", {"role": "support"}),
        (f"/users/{admin.id}/disable", {}),
    ):
        assert post(client, url, data).status_code == 403
    assert _user("admin@example.com").role == Role.ADMIN and _user("admin@example.com").active
    assert _user("x@example.com") is None
