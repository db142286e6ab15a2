"""Bearer-token authentication: every API call acts for the token's user and account only.

The session cookie is never looked at, so a browser cannot be tricked into calling the API.
"""

from __future__ import annotations

from flask import g, request

from app.api.errors import Unauthorized
from app.models import User
from app.services import accounts


def authenticate() -> User:
    """Resolve ``Authorization: Bearer <token>`` to its user, or raise Unauthorized (401)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an API token as Authorization: Bearer <token>")
    user = accounts.user_for_token(token.strip())
    if user is None:
        raise Unauthorized("the API token is invalid or revoked")
    g.api_user = user
    return user


def account_id() -> int:
    """The calling token's account: every object the API touches is scoped to it."""
    return g.api_user.account_id
