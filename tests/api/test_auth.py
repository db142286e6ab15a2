"""Bearer tokens: every route but health and the document needs one; cookies never count."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.api.openapi import OPERATIONS
from app.extensions import db
from app.models import ApiToken, MailingList
from app.models.base import utcnow

AUTHENTICATED = [
    pytest.param(op.method, "/api/v1" + re.sub(r"<[^>]+>", "1", op.rule), id=f"{op.method} {op.rule}")
    for op in OPERATIONS
    if op.auth
]


def _lists() -> int:
    return db.session.scalar(sa.select(sa.func.count(MailingList.id)))


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
def test_no_token_is_401(anon, method, path):
    response = getattr(anon, method.lower())(path, json={"name": "x"})

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
@pytest.mark.parametrize("header", ["Bearer pr_nope_nope", "Bearer ", "Basic b3duZXI6cHc=", "pr_x_y", "Bearer garbage"])
def test_invalid_token_is_401(anon, method, path, header):
    response = getattr(anon, method.lower())(path, json={"name": "x"}, headers={"Authorization": header})

    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_a_token_with_the_wrong_secret_is_401(anon, api_token):
    prefix = api_token.rsplit("_", 1)[0]

    response = anon.get("/api/v1/lists", headers={"Authorization": f"Bearer {prefix}_wrongsecret"})

    assert response.status_code == 401


def test_a_revoked_token_is_401(api):
    db.session.execute(sa.update(ApiToken).values(revoked_at=utcnow()))
    db.session.commit()

    assert api.get("/api/v1/lists").status_code == 401


def test_the_session_cookie_is_not_accepted(anon, client, make_user):
    user = make_user()
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
        session["session_version"] = user.session_version
    assert client.get("/").status_code == 200  # the cookie does sign in to the dashboard

    response = anon.post("/api/v1/lists", json={"name": "From a cookie"})

    assert response.status_code == 401
    assert _lists() == 0


def test_a_valid_token_works_without_a_csrf_token(api):
    response = api.post("/api/v1/lists", json={"name": "News"})

    assert response.status_code == 201
    assert _lists() == 1


def test_health_and_document_need_no_token(anon):
    assert anon.get("/api/v1/health").status_code == 200
    assert anon.get("/api/v1/openapi.json").status_code == 200
