"""API tokens as the API sees them: format and strength, last use, revocation, no cookies."""

from __future__ import annotations

import base64
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import ApiToken, MailingList, User
from app.models.base import utcnow
from app.services import accounts
from tests.conftest import PASSWORD


def _row(token: str) -> ApiToken:
    db.session.expire_all()
    return db.session.scalar(sa.select(ApiToken).where(ApiToken.prefix == token.split("_")[1]))


def test_a_token_is_a_visible_prefix_and_a_secret_of_at_least_128_bits(app, make_user):
    user = make_user()

    tokens = {accounts.issue_token(user, f"t{i}")[1] for i in range(20)}

    assert len(tokens) == 20
    for token in tokens:
        scheme, prefix, secret = token.split("_", 2)
        assert scheme == "pr" and len(prefix) == 12
        raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        assert len(raw) * 8 >= 128
        assert _row(token).secret_hash != secret and secret not in _row(token).secret_hash


def test_the_cli_and_the_dashboard_make_the_same_kind_of_token(api, app, owner):
    from_dashboard = accounts.issue_token(owner, "dashboard")[1]

    assert len(from_dashboard) == len(api.token)
    assert api.get("/api/v1/lists").status_code == 200
    assert api.get("/api/v1/lists", headers={"Authorization": f"Bearer {from_dashboard}"}).status_code == 200


def test_last_use_is_recorded_at_most_once_a_minute(api):
    assert _row(api.token).last_used_at is None
    api.get("/api/v1/lists")
    first = _row(api.token).last_used_at
    assert first is not None and utcnow() - first < timedelta(seconds=30)

    api.get("/api/v1/lists")
    api.get("/api/v1/campaigns")
    assert _row(api.token).last_used_at == first

    _row(api.token).last_used_at = first - timedelta(minutes=2)
    db.session.commit()
    api.get("/api/v1/lists")
    assert _row(api.token).last_used_at > first


def test_a_revoked_token_is_refused_from_the_next_call(api, owner):
    assert api.get("/api/v1/lists").status_code == 200

    accounts.revoke_token(owner, _row(api.token).id)
    response = api.post("/api/v1/lists", json={"name": "After revocation"})

    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == "the API token is invalid or revoked"
    assert db.session.scalar(sa.select(sa.func.count(MailingList.id))) == 0


def test_a_deactivated_users_tokens_stop_working(api, owner):
    db.session.get(User, owner.id).active = False
    db.session.commit()

    assert api.get("/api/v1/lists").status_code == 401


def test_a_logged_in_browser_without_a_bearer_token_gets_401(client, auth, make_user, anon):
    make_user()
    login = auth.login("owner@example.com", PASSWORD)
    assert login.status_code == 302 and client.get("/tokens").status_code == 200  # the session is real

    reads = anon.get("/api/v1/lists")
    writes = anon.post("/api/v1/lists", json={"name": "From the cookie"})

    assert (reads.status_code, writes.status_code) == (401, 401)
    assert reads.get_json()["error"]["code"] == "unauthorized"
    assert db.session.scalar(sa.select(sa.func.count(MailingList.id))) == 0


def test_a_malformed_token_is_401_without_a_lookup(anon, api_token):
    _, prefix, secret = api_token.split("_", 2)

    for value in (f"pr_{prefix.upper()}_{secret}", f"pr_{prefix}\x00_{secret}", f"pr_{'a' * 33}_{secret}"):
        response = anon.get("/api/v1/lists", headers={"Authorization": f"Bearer {value}"})
        assert response.status_code == 401, value
