"""Two-factor login with time-based one-time codes (RFC 6238: 6 digits, 30-second steps).

Turning it on takes the user's password and a code from the new secret, so the authenticator
app is proven to work before the login starts asking for it; turning it off takes the password
and a current code. Either change ends the user's other sessions.

At login a code is accepted for the current step and one step either side (clock drift), and
never twice: the step of the last accepted code is stored, and only a later step is accepted,
with a compare-and-set so two requests racing with one code cannot both win. Wrong codes are
limited per user (``TOTP_MAX_FAILURES`` per ``LOGIN_FAILURE_WINDOW``, app/services/throttle.py),
counted in Redis whatever the session: logging in with the password again starts nothing afresh.

The secret is kept in ``users.totp_secret`` as base32 text, encrypted at rest like provider
passwords and webhook secrets (``EncryptedText``, app/crypto.py).
"""

from __future__ import annotations

import hmac
import re
import time
from datetime import UTC, datetime

import pyotp
import sqlalchemy as sa

from app.extensions import db
from app.models import User
from app.services import accounts, audit, throttle
from app.services.errors import Conflict, ValidationFailed

ISSUER = "Postroom"
DRIFT_STEPS = 1
_SECRET = re.compile(r"[A-Z2-7]{32}")
_CODE = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """A fresh 160-bit secret, base32 (what authenticator apps take)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (as a QR code or pasted)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def _matching_step(secret: str, code: str, after: int | None, now: float | None = None) -> int | None:
    """The time step whose code is ``code``, later than ``after``; None when there is none."""
    code = re.sub(r"\s", "", code or "")
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(datetime.fromtimestamp(time.time() if now is None else now, tz=UTC))
    found = None
    # Every candidate is compared (in constant time), so the answer's timing says nothing.
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and (after is None or step > after):
            found = step
    return found


def enable(user: User, secret: str, password: str, code: str) -> None:
    """Turn two-factor login on with ``secret`` once the password and a code from it check out. Commits."""
    if user.totp_enabled:
        raise Conflict("two-factor login is already on")
    if not _SECRET.fullmatch(secret or ""):
        raise ValidationFailed("the setup expired; start again", "code")
    accounts.check_own_password(user, password, "password")
    step = _matching_step(secret, code, None)
    if step is None:
        raise ValidationFailed("that code does not match; check the app's clock and type the code it shows now", "code")
    user.totp_secret = secret
    user.totp_last_step = step  # the code that proved the setup does not log anyone in
    accounts.revoke_sessions(user)
    audit.record("totp_enabled", user=user, target=f"user {user.email}")
    db.session.commit()


def disable(user: User, password: str, code: str) -> None:
    """Turn two-factor login off; it takes the password and a current code. Commits."""
    if not user.totp_enabled:
        raise Conflict("two-factor login is already off")
    accounts.check_own_password(user, password, "password")
    _use_code(user, code)
    user.totp_secret = None
    user.totp_last_step = None
    accounts.revoke_sessions(user)
    audit.record("totp_disabled", user=user, target=f"user {user.email}")
    db.session.commit()


def verify_login(user: User, code: str) -> None:
    """The second step of a login: accept ``code`` once, record the login. Commits.

    Raises TooManyAttempts while the user is over the wrong-code limit (before looking at the
    code), ValidationFailed for a wrong or reused code.
    """
    _use_code(user, code)
    accounts.record_login(user)
    db.session.commit()


def _use_code(user: User, code: str) -> None:
    """Accept one code (throttled, never twice) or raise; a wrong one is audited and committed."""
    attempt = throttle.reserve(throttle.totp_limits(user.id), "wrong codes")
    step = _matching_step(user.totp_secret, code, user.totp_last_step)
    if step is not None:
        # Compare-and-set: of two requests with one code, only the first moves the step on.
        moved = db.session.execute(
            sa.update(User)
            .where(User.id == user.id, sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved:
            throttle.release(attempt)
            user.totp_last_step = step
            return
    audit.record("totp_failed", user=user, target=f"user {user.email}")
    db.session.commit()
    raise ValidationFailed("that code is not right, or was used already; wait for the next one", "code")
