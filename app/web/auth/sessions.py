"""Starting, checking and ending dashboard sessions.

A session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure and ``__Host-`` over https;
app/config.py). It holds the user id and the user's ``session_version`` at login. The user
loader (``user_for_session``) refuses a session whose version is no longer the user's, so raising
the version (app.services.accounts.revoke_sessions) ends every session of that user at its next
request. The one that made the change stores the new version and stays logged in (``keep``).

A session ends after ``SESSION_IDLE_HOURS`` without a request: it is permanent, Flask renews
its signed timestamp on every request and refuses one older than the lifetime.

A login starts from an empty session: nothing planted in the cookie before it survives, and the
CSRF token is a new one. With two-factor login on, the password step only leaves a pending
marker (user, version, deadline) in the session: nobody is logged in until the code is right.
"""

from __future__ import annotations

import time

from flask import current_app, g, session
from flask_login import login_user, logout_user

from app.extensions import db
from app.models import User

VERSION_KEY = "session_version"
PENDING_KEY = "pending_login"
PENDING_SECONDS = 300  # from the right password to the code


def user_for_session(user_id: str) -> User | None:
    """The session's user, unless they are disabled or their sessions were ended since it began."""
    try:
        user = db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None
    if user is None or not user.active or session.get(VERSION_KEY) != user.session_version:
        return None
    return user


def _fresh() -> None:
    """Empty the session and forget this request's CSRF token, so the next page gets a new one."""
    session.clear()
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    g.pop("_login_user", None)


def start(user: User) -> None:
    """Log ``user`` in on a new, empty session."""
    _fresh()
    login_user(user)
    session[VERSION_KEY] = user.session_version
    session.permanent = True


def keep(user: User) -> None:
    """Keep this session after the user's own change raised their session version."""
    session[VERSION_KEY] = user.session_version


def begin_second_factor(user: User) -> None:
    """The password was right and a code is due: a new session that logs nobody in yet."""
    _fresh()
    session[PENDING_KEY] = {"user": user.id, "version": user.session_version, "until": time.time() + PENDING_SECONDS}
    session.permanent = True


def pending_user() -> User | None:
    """The user whose code the session waits for, or None (none, expired, or their sessions ended)."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or float(pending.get("until", 0)) < time.time():
        return None
    user = db.session.get(User, int(pending.get("user", 0)))
    if user is None or not user.active or not user.totp_enabled or pending.get("version") != user.session_version:
        return None
    return user


def end() -> None:
    """Log out and empty the session."""
    logout_user()
    _fresh()
