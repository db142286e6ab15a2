"""Accounts, users, passwords, API tokens and the open-registration setting."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Account, ApiToken, Role, Setting, User
from app.models.base import utcnow
from app.services import validation
from app.services.errors import Conflict, NotFound, ValidationFailed

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 defaults
# Verified against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("postroom-dummy-password")
MIN_PASSWORD = 10
TOKEN_PREFIX = "pr"
MAX_TOKEN_NAME = 100
TOKEN_USE_RECORDED_EVERY = timedelta(minutes=1)
_PREFIX_SHAPE = re.compile(r"[0-9a-f]{1,32}")  # what issue_token writes; anything else is not looked up
REGISTRATION_KEY = "registration_open"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


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


def authenticate(email: str, password: str) -> User | None:
    """The active user with these credentials, or None; the same work either way."""
    address = (email or "").strip().lower()
    # No stored address holds a NUL (PostgreSQL refuses one in a query): such a login is simply
    # an unknown user, checked against the dummy hash like any other.
    user = None if "\x00" in address else db.session.scalar(sa.select(User).where(User.email == address))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def registration_open() -> bool:
    value = db.session.get(Setting, REGISTRATION_KEY)
    return value is None or value.value == "1"


def set_registration_open(is_open: bool) -> None:
    setting = db.session.get(Setting, REGISTRATION_KEY) or Setting(key=REGISTRATION_KEY, value="")
    setting.value = "1" if is_open else "0"
    db.session.add(setting)
    db.session.commit()


def register(email: str, password: str) -> User:
    """Self-service sign-up: a new account whose first user is its admin."""
    if not registration_open():
        raise ValidationFailed("registration is closed on this server; ask an administrator")
    return create_user(email, password, Role.ADMIN)


def ensure_admin() -> tuple[str, str] | None:
    """Create the first admin when there are no users; return its (e-mail, password) once."""
    if db.session.scalar(sa.select(sa.func.count(User.id))):
        return None
    password = secrets.token_urlsafe(12)
    user = create_user("admin@example.com", password, Role.ADMIN, account_name="Default")
    return user.email, password


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Create an API token for ``user``; return it and its plaintext, which is never stored. Commits.

    The plaintext is ``pr_<prefix>_<secret>``: the prefix (48 bits, hex) is stored and shown so
    people can tell their tokens apart; the secret (192 bits) is stored only as its SHA-256.
    """
    name = validation.plain_text(name, "name", required=True, max_length=MAX_TOKEN_NAME)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    token = ApiToken(account_id=user.account_id, user_id=user.id, name=name, prefix=prefix, secret_hash=_digest(secret))
    db.session.add(token)
    db.session.commit()
    return token, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def create_token(email: str, name: str = "cli") -> str:
    """Create an API token for the user with this e-mail (the CLI's ``tokens create``); its plaintext."""
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with e-mail {email}")
    return issue_token(user, name)[1]


def token_for(plaintext: str) -> ApiToken | None:
    """The live token behind a bearer value (not revoked, its user active), or None.

    Records the token's last use, at most once a minute: one write a minute is enough to know a
    token is in use, and the API does not write on every request.
    """
    parts = (plaintext or "").split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not _PREFIX_SHAPE.fullmatch(parts[1]):
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.prefix == parts[1], ApiToken.revoked_at.is_(None)))
    expected = token.secret_hash if token else _digest("-")
    if not hmac.compare_digest(expected, _digest(parts[2])) or token is None:
        return None
    if not token.user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_RECORDED_EVERY:
        token.last_used_at = now
        db.session.commit()
    return token


def user_for_token(plaintext: str) -> User | None:
    """The active user behind a bearer token, or None; records last use like ``token_for``."""
    token = token_for(plaintext)
    return token.user if token else None


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
        db.session.commit()
    return token
