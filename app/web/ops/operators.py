"""Who operates the instance: the people who may see every account's jobs and numbers.

Accounts are tenants; their admins run their own account and nothing more. What spans every
account (rq-dashboard's jobs, ``/metrics``, opening or closing self-service registration) is
for instance operators only. Being an operator is configuration, not data: no role in the
database grants it, so no tenant admin can grant it either.

- ``OPERATOR_EMAILS`` set (comma-separated addresses): the active users with those addresses,
  whatever their role. List addresses that already have a user: while registration is open,
  anyone may sign up with an address nobody has yet.
- ``OPERATOR_EMAILS`` empty (the default): the admins of the first account (id 1), which
  ``users ensure-admin`` creates on a fresh instance (admin@example.com with ``make run``).
"""

from __future__ import annotations

from flask import current_app

from app.models import Role

FIRST_ACCOUNT_ID = 1


def emails() -> frozenset[str]:
    raw = current_app.config.get("OPERATOR_EMAILS", "")
    return frozenset(part.strip().lower() for part in (raw or "").split(",") if part.strip())


def is_operator(user) -> bool:
    """Whether ``user`` (Flask-Login's current user, possibly anonymous) operates the instance."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    named = emails()
    if named:
        return user.email.lower() in named
    return user.role == Role.ADMIN and user.account_id == FIRST_ACCOUNT_ID
