"""Who may use the dashboard: a logged-in, active user whose role allows the request.

Every dashboard blueprint (made with ``dashboard_blueprint``) requires a login and then checks
the role policy (app/services/permissions.py) for its area and the request's method: a refused
read or write answers 403 with the normal error page, before the view runs, so nothing changes.
The check runs after the area's own hooks, so an area that hides its admin pages (404) still
does; the policy refuses whatever else it must, for every blueprint present and future.
A disabled user's session ends on their next request: the user loader refuses it
(app/web/auth/sessions.py).
"""

from __future__ import annotations

from flask import Blueprint, Flask, request
from flask_login import current_user, login_required

from app.services import permissions
from app.services.errors import Forbidden

# Blueprints whose area (a key of permissions.POLICY) is not their own name.
AREA_OF_BLUEPRINT = {"email_templates": "templates", "sendlog": "emails", "admin": "settings"}
DASHBOARD: set[str] = set()  # the names of every dashboard blueprint, for the access-control census


def dashboard_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint whose every view needs a login and the role policy's consent."""
    bp = Blueprint(name, import_name)
    DASHBOARD.add(name)

    @bp.before_request
    @login_required
    def require_login():
        return None

    @bp.record_once
    def enforce_last(state) -> None:
        # Blueprint hooks are merged into the app before record callbacks run: appending here
        # puts the policy after the area's own hooks, whatever order its modules declare them.
        key = f"{state.name_prefix}.{state.name}".lstrip(".")
        state.app.before_request_funcs.setdefault(key, []).append(enforce_policy)

    return bp


def area(blueprint: str | None) -> str:
    return AREA_OF_BLUEPRINT.get(blueprint or "", blueprint or "")


def enforce_policy() -> None:
    """Refuse (403) a request the user's role may not make in this blueprint's area."""
    here = area(request.blueprint)
    if not permissions.allowed(current_user.role, here, request.method):
        raise Forbidden(permissions.refusal(current_user.role, here, request.method))


def may(target: str, write: bool = False) -> bool:
    """Whether the current user may read (or write) ``target``, a blueprint name: for links and buttons."""
    if not current_user.is_authenticated:
        return False
    return permissions.allowed(current_user.role, area(target), "POST" if write else "GET")


def register(app: Flask) -> None:
    app.context_processor(lambda: {"may": may})


def account_id() -> int:
    """The logged-in user's account: every dashboard query is scoped to it."""
    return current_user.account_id
