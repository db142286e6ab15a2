"""Recording security-relevant actions in the audit log (app/models/audit.py).

``record`` adds the event to the caller's session without committing, so the event and the
change it describes are written in one transaction: there is never a role change without its
audit row, nor an audit row for a change that rolled back. Callers that change nothing else (a
failed login) commit themselves.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import has_request_context, request

from app.extensions import db
from app.models.audit import AuditEvent

# Every action the log knows, with the words the admin page shows for it.
ACTIONS = {
    "login": "logged in",
    "login_failed": "failed to log in",
    "login_throttled": "was refused a login (too many failures)",
    "logout": "logged out",
    "password_changed": "changed their password",
    "password_reset_requested": "asked for a password reset",
    "password_reset": "reset their password by e-mail",
    "totp_enabled": "turned on two-factor authentication",
    "totp_disabled": "turned off two-factor authentication",
    "totp_failed": "entered a wrong two-factor code",
    "user_created": "added a user",
    "role_changed": "changed a role",
    "user_disabled": "disabled a user",
    "user_enabled": "enabled a user",
    "token_created": "created an API token",
    "token_revoked": "revoked an API token",
    "suppression_removed": "lifted a suppression",
    "subscriber_exported": "exported a subscriber's data",
    "subscriber_erased": "erased a subscriber",
    "list_exported": "exported a list",
    "settings_changed": "changed settings",
}


def record(
    action: str,
    *,
    account_id: int | None = None,
    user=None,
    actor: str = "",
    target: str = "",
    detail: dict | None = None,
) -> AuditEvent:
    """Add one event to the session (not committed). ``user`` is who acted, when known."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if user is not None:
        account_id = account_id if account_id is not None else user.account_id
        actor = actor or user.email
    event = AuditEvent(
        account_id=account_id,
        user_id=getattr(user, "id", None),
        actor=(actor or "")[:254],
        action=action,
        target=(target or "")[:300],
        detail=detail or {},
        ip=client_ip(),
    )
    db.session.add(event)
    return event


def client_ip() -> str:
    """The caller's address (after ProxyFix, when configured), or "" outside a request."""
    if not has_request_context():
        return ""
    return (request.remote_addr or "")[:64]


def query(account_id: int, action: str | None = None) -> sa.Select:
    """An account's events, newest first, optionally of one action."""
    stmt = sa.select(AuditEvent).where(AuditEvent.account_id == account_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return stmt.order_by(AuditEvent.id.desc())
