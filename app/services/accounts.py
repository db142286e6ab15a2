"""Accounts, users, passwords, API tokens and the open-registration setting.

Passwords are hashed with argon2id at the cost in ``ARGON2_*`` (OWASP's minimum by default:
19 MiB, 2 passes, 1 lane, about 40 ms); a stored hash made at another cost is rehashed at the
next successful login. Logging in costs the same whether the address has an account or not,
and a disabled user's right password is answered like a wrong one.

Failed logins are limited per typed address and per client address (app/services/throttle.py);
a refusal comes before the password is checked, so even the right one is refused then. A
successful login does not clear the failures counted before it: the limit is a hard ceiling on
guesses per window, whoever logs in meanwhile.

Every session of a user ends when ``revoke_sessions`` raises their ``session_version``: on a
password change or reset, on disabling them, and on turning two-factor login on or off.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy.orm import selectinload

from app import links
from app.extensions import db
from app.models import Account, ApiToken, Role, Setting, User
from app.models.account import PasswordResetToken
from app.models.base import utcnow
from app.services import audit, throttle, validation
from app.services.errors import Conflict, NotFound, ValidationFailed

MIN_PASSWORD = 10
TOKEN_PREFIX = "pr"
MAX_TOKEN_NAME = 100
TOKEN_USE_RECORDED_EVERY = timedelta(minutes=1)
_PREFIX_SHAPE = re.compile(r"[0-9a-f]{1,32}")  # what issue_token writes; anything else is not looked up
REGISTRATION_KEY = "registration_open"
# OWASP Password Storage Cheat Sheet's argon2id minimum; used when the app's config has no ARGON2_*.
@functools.lru_cache(maxsize=4)
def _hasher_for(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def _cost() -> tuple[int, int, int]:
    config = current_app.config  # app/config.py sets all three, as integers
    return config["ARGON2_TIME_COST"], config["ARGON2_MEMORY_KIB"], config["ARGON2_PARALLELISM"]


def hasher() -> PasswordHasher:
    """The argon2id hasher at the configured cost."""
    return _hasher_for(*_cost())


@functools.lru_cache(maxsize=4)
def _dummy_hash(cost: tuple[int, int, int]) -> str:
    """Checked when the address has no account, so both paths cost the same."""
    return _hasher_for(*cost).hash("postroom-dummy-password")


def hash_password(password: str) -> str:
    return hasher().hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches the hash; with no hash, the same work against a dummy one."""
    try:
        return hasher().verify(stored_hash or _dummy_hash(_cost()), password or "") and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise ValidationFailed(f"password must be at least {MIN_PASSWORD} characters", "password")
    if len(password) > 1024:
        raise ValidationFailed("password is longer than 1024 characters", "password")
    return password


def create_user(email: str, password: str, role: Role = Role.ADMIN, account_name: str | None = None) -> User:
    """Create a user; a new account unless ``account_name`` names an existing one. Commits."""
    email = validation.email_address(email)
    _check_password(password)
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise Conflict(f"a user with e-mail {email} already exists", "email")
    if account_name:
        account = db.session.scalar(sa.select(Account).where(Account.name == account_name))
        if account is None:
            account = Account(name=account_name)
    else:
        account = Account(name=email)
    user = User(email=email, password_hash=hash_password(password), role=Role(role), account=account)
    db.session.add(user)
    db.session.commit()
    return user


def _typed(address: str) -> str:
    """A typed address as the audit log's actor: printable characters only."""
    return "".join(ch for ch in address if ch.isprintable())[:254]


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None; the same work and answer either way.

    Raises TooManyAttempts, before checking the password, while the typed address or the
    caller's address is over its failure limit. A user with two-factor login gets no ``login``
    event here: they are not logged in before their code (``app.services.totp.verify_login``).
    """
    address = (email or "").strip().lower()
    # No stored address holds a NUL (PostgreSQL refuses one in a query): such a login is simply
    # an unknown user, checked against the dummy hash like any other.
    user = None if "\x00" in address else db.session.scalar(sa.select(User).where(User.email == address))
    try:
        attempt = throttle.reserve(throttle.login_limits(address, audit.client_ip()))
    except throttle.TooManyAttempts as exc:
        if exc.first:
            audit.record(
                "login_throttled",
                account_id=user.account_id if user else None,
                actor=_typed(address),
                detail={"limit": exc.scope, "retry_after": exc.retry_after},
            )
            db.session.commit()
        raise
    matches = password_matches(user.password_hash if user else None, password)
    if not matches or user is None or not user.active:
        reason = "unknown address" if user is None else ("disabled" if not user.active else "wrong password")
        audit.record(
            "login_failed",
            account_id=user.account_id if user else None,
            actor=_typed(address),
            target=f"user {user.email}" if user else "",
            detail={"reason": reason},
        )
        db.session.commit()
        return None
    throttle.release(attempt)
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if not user.totp_enabled:
        record_login(user)
    db.session.commit()
    return user


def record_login(user: User) -> None:
    """Note a completed login (not committed)."""
    user.last_login_at = utcnow()
    audit.record("login", user=user, target=f"user {user.email}")


def record_logout(user: User) -> None:
    audit.record("logout", user=user, target=f"user {user.email}")
    db.session.commit()


def revoke_sessions(user: User) -> None:
    """End every session of ``user`` at its next request (not committed)."""
    user.session_version = (user.session_version or 0) + 1


def set_password(user: User, password: str) -> None:
    """Store a new password, end every session, void every unused reset link (not committed)."""
    _check_password(password)
    user.password_hash = hash_password(password)
    revoke_sessions(user)
    db.session.execute(
        sa.update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
    )


def check_own_password(user: User, password: str, field: str = "current_password") -> None:
    """Raise ValidationFailed unless ``password`` is the user's own; counted like a failed login.

    A stolen session must not be a way to guess the password faster than the login page allows.
    """
    attempt = throttle.reserve(throttle.login_limits(user.email, audit.client_ip()))
    if not password_matches(user.password_hash, password):
        audit.record("login_failed", user=user, target=f"user {user.email}", detail={"reason": "wrong password"})
        db.session.commit()
        raise ValidationFailed("that is not your current password", field)
    throttle.release(attempt)


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Change the user's own password; every other session ends (the caller keeps its own). Commits."""
    _check_password(new_password)
    check_own_password(user, current_password)
    set_password(user, new_password)
    audit.record("password_changed", user=user, target=f"user {user.email}")
    db.session.commit()


def end_other_sessions(user: User) -> None:
    """End every session of the user; the caller stores the new version in its own. Commits."""
    revoke_sessions(user)
    db.session.commit()


def registration_open() -> bool:
    value = db.session.get(Setting, REGISTRATION_KEY)
    return value is None or value.value == "1"


def set_registration_open(is_open: bool, acting: User | None = None) -> None:
    """Open or close self-service registration; a change is audited as ``acting``'s. Commits."""
    if is_open != registration_open():
        audit.record("settings_changed", user=acting, target="registration", detail={"registration_open": is_open})
    setting = db.session.get(Setting, REGISTRATION_KEY) or Setting(key=REGISTRATION_KEY, value="")
    setting.value = "1" if is_open else "0"
    db.session.add(setting)
    db.session.commit()


def register(email: str, password: str) -> User:
    """Self-service sign-up: a new account whose first user is its admin."""
    if not registration_open():
        raise ValidationFailed("registration is closed on this server; ask an administrator")
    user = create_user(email, password, Role.ADMIN)
    audit.record("user_created", user=user, target=f"user {user.email}", detail={"role": "admin", "via": "sign-up"})
    db.session.commit()
    return user


def ensure_admin() -> tuple[str, str] | None:
    """Create the first admin when there are no users; return its (e-mail, password) once."""
    if db.session.scalar(sa.select(sa.func.count(User.id))):
        return None
    password = secrets.token_urlsafe(12)
    user = create_user("admin@example.com", password, Role.ADMIN, account_name="Default")
    return user.email, password


def issue_token(user: User, name: str, actor: str = "") -> tuple[ApiToken, str]:
    """Create an API token for ``user``; return it and its plaintext, which is never stored. Commits.

    The plaintext is ``pr_<prefix>_<secret>``: the prefix (48 bits, hex) is stored and shown so
    people can tell their tokens apart; the secret (192 bits) is stored only as its SHA-256.
    ``user`` is who creates it (and owns it); ``actor`` names someone else in the audit log
    (the command line).
    """
    name = validation.plain_text(name, "name", required=True, max_length=MAX_TOKEN_NAME)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    token = ApiToken(
        account_id=user.account_id, user_id=user.id, name=name, prefix=prefix, secret_hash=links.digest(secret)
    )
    db.session.add(token)
    audit.record("token_created", user=user, actor=actor, target=f"token pr_{prefix}_… ({name})")
    db.session.commit()
    return token, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def create_token(email: str, name: str = "cli") -> str:
    """Create an API token for the user with this e-mail (the CLI's ``tokens create``); its plaintext."""
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with e-mail {email}")
    return issue_token(user, name, actor="command line")[1]


def token_for(plaintext: str) -> ApiToken | None:
    """The live token behind a bearer value (not revoked, its user active), or None.

    Records the token's last use, at most once a minute: one write a minute is enough to know a
    token is in use, and the API does not write on every request.
    """
    parts = (plaintext or "").split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not _PREFIX_SHAPE.fullmatch(parts[1]):
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.prefix == parts[1], ApiToken.revoked_at.is_(None)))
    expected = token.secret_hash if token else links.digest("-")
    if not hmac.compare_digest(expected, links.digest(parts[2])) or token is None:
        return None
    if not token.user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_RECORDED_EVERY:
        token.last_used_at = now
        db.session.commit()
    return token


def tokens(user: User) -> sa.Select:
    """The tokens ``user`` may see and revoke, newest first: all the account's for an admin, else their own."""
    stmt = sa.select(ApiToken).where(ApiToken.account_id == user.account_id)
    if user.role != Role.ADMIN:
        stmt = stmt.where(ApiToken.user_id == user.id)
    return stmt.options(selectinload(ApiToken.user)).order_by(ApiToken.id.desc())


def get_token(user: User, token_id: int) -> ApiToken:
    """One of the tokens ``user`` may see; NotFound for any other id."""
    token = db.session.scalar(tokens(user).where(ApiToken.id == token_id))
    if token is None:
        raise NotFound(f"API token {token_id} not found")
    return token


def revoke_token(user: User, token_id: int) -> ApiToken:
    """Revoke a token ``user`` may manage; it answers 401 from now on. NotFound for any other id.

    Revoking a revoked token changes nothing (it keeps its first revocation time).
    """
    token = get_token(user, token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("token_revoked", user=user, target=f"token pr_{token.prefix}_… ({token.name})")
        db.session.commit()
    return token
