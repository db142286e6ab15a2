"""Who may use the dashboard: every dashboard blueprint requires a logged-in user."""

from __future__ import annotations

from flask import Blueprint
from flask_login import current_user, login_required


def dashboard_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint whose every view needs a login (public pages use a plain Blueprint)."""
    bp = Blueprint(name, import_name)

    @bp.before_request
    @login_required
    def require_login():
        return None

    return bp


def account_id() -> int:
    """The logged-in user's account: every dashboard query is scoped to it."""
    return current_user.account_id
