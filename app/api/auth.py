"""Bearer-token authentication: every API call acts for the token's user and account only.

The user's role limits the call like the dashboard's (app/services/permissions.py): a support
token reads only, a marketer's changes no provider or webhook; a refused call answers 403.

The session cookie is never looked at, so a browser cannot be tricked into calling the API. A
request's token is resolved once (the rate limiter keys on it before the view runs) and kept in
``g`` until the request ends.
"""

from __future__ import annotations

from flask import g, request

from app.api.errors import Unauthorized
from app.models import ApiToken, User
from app.services import accounts, permissions
from app.services.errors import Forbidden

# Paths whose area in the role policy (app/services/permissions.py) is not their first segment.
AREA_OF_PATH = {"subscribers": "lists", "imports": "lists"}


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def current_token() -> ApiToken | None:
    """The request's live API token, or None when it sends none or an invalid or revoked one."""
    if "api_token" not in g:
        value = _bearer()
        g.api_token = accounts.token_for(value) if value else None
    return g.api_token


def forget_token(_exc: BaseException | None = None) -> None:
    """Drop the resolved token at the end of a request (tests reuse one ``g`` for many requests)."""
    g.pop("api_token", None)


def authenticate() -> User:
    """Resolve ``Authorization: Bearer <token>`` to its user, or raise Unauthorized (401).

    Raises Forbidden (403) when the user's role may not make this call.
    """
    if _bearer() is None:
        raise Unauthorized("send an API token as Authorization: Bearer <token>")
    token = current_token()
    if token is None:
        raise Unauthorized("the API token is invalid or revoked")
    area = _area()
    if not permissions.allowed(token.user.role, area, request.method):
        raise Forbidden(permissions.refusal(token.user.role, area, request.method))
    g.api_user = token.user
    return token.user


def _area() -> str:
    """The role policy's area of the request: its path's first segment after /v1/ (``/lists/...``)."""
    first = request.url_rule.rule.partition("/v1/")[2].split("/")[0] if request.url_rule else ""
    return AREA_OF_PATH.get(first, first)


def account_id() -> int:
    """The calling token's account: every object the API touches is scoped to it."""
    return g.api_user.account_id
