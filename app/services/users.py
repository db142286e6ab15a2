"""An account's users, managed by its admins: add one with a role, change a role, disable, enable.

An account always keeps one active admin: demoting or disabling the last one is refused
(Conflict), and the account's row is locked while the check runs, so two admins demoting each
other at the same moment cannot both succeed. Nobody disables themselves. A disabled user can
no longer log in, every session of theirs ends (their session version goes up), and their API
tokens answer 401; enabling them again restores the tokens, and they log in anew.

Each change is written to the audit log in its own transaction, naming the admin who made it
(``acting``).
"""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Account, Role, User
from app.services import accounts, audit, validation
from app.services.errors import Conflict, ValidationFailed
from app.services.scope import owned


def query(account_id: int) -> sa.Select:
    return sa.select(User).where(User.account_id == account_id).order_by(User.email)


def get(account_id: int, user_id: int) -> User:
    return owned(User, account_id, user_id, "user")


def _role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationFailed(f"role must be one of {', '.join(r.value for r in Role)}", "role") from None


def add(account_id: int, email: str, password: str, role: str | Role, acting: User | None = None) -> User:
    """Add a user to the account; they log in with this e-mail and password."""
    email = validation.email_address(email)
    role = _role(role)
    accounts._check_password(password)  # the same rule as `users create` and registration
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise Conflict(f"a user with e-mail {email} already exists", "email")
    user = User(account_id=account_id, email=email, password_hash=accounts.hash_password(password), role=role)
    db.session.add(user)
    audit.record(
        "user_created", account_id=account_id, user=acting, target=f"user {email}", detail={"role": role.value}
    )
    db.session.commit()
    return user


def change_role(account_id: int, user_id: int, role: str | Role, acting: User | None = None) -> User:
    role = _role(role)
    _lock(account_id)
    user = get(account_id, user_id)
    if role != Role.ADMIN:
        _keep_an_admin(account_id, user, "demote")
    if user.role != role:
        audit.record(
            "role_changed",
            account_id=account_id,
            user=acting,
            target=f"user {user.email}",
            detail={"from": user.role.value, "to": role.value},
        )
    user.role = role
    db.session.commit()
    return user


def set_active(account_id: int, user_id: int, active: bool, acting: User) -> User:
    """Enable or disable a user; ``acting`` is the admin doing it, who may not disable themselves."""
    _lock(account_id)
    user = get(account_id, user_id)
    if not active:
        if user.id == acting.id:
            raise ValidationFailed("you cannot disable yourself; another admin can")
        _keep_an_admin(account_id, user, "disable")
    if user.active != bool(active):
        if not active:
            accounts.revoke_sessions(user)
        action = "user_enabled" if active else "user_disabled"
        audit.record(action, account_id=account_id, user=acting, target=f"user {user.email}")
    user.active = bool(active)
    db.session.commit()
    return user


def _lock(account_id: int) -> None:
    """Serialise user changes per account (PostgreSQL row lock; SQLite has one writer anyway)."""
    db.session.execute(sa.select(Account.id).where(Account.id == account_id).with_for_update())


def _keep_an_admin(account_id: int, user: User, verb: str) -> None:
    if user.role != Role.ADMIN or not user.active:
        return
    others = db.session.scalar(
        sa.select(sa.func.count(User.id)).where(
            User.account_id == account_id, User.role == Role.ADMIN, User.active.is_(True), User.id != user.id
        )
    )
    if not others:
        db.session.rollback()
        raise Conflict(f"{user.email} is the account's last admin; make someone else an admin before you {verb} them")
