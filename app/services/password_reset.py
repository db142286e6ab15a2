"""Password reset by e-mail: ask for a link, then use it once to choose a new password.

``request`` answers the same whatever the address: it sends a link only when the address
belongs to an active user, and only within the limits (``PASSWORD_RESET_MAX_PER_ADDRESS`` per
typed address and ``PASSWORD_RESET_MAX_PER_IP`` per client address, per hour), and says nothing
about which happened. The e-mail is a ``sent_emails`` row of kind ``password_reset`` in the
user's account, delivered by the engine (app/delivery/password_reset.py builds it).

A link (``password_reset_tokens``) holds 256 bits, is stored only as its SHA-256 (looked up by
it, so no comparison of secrets happens in Python), lives ``PASSWORD_RESET_TTL`` seconds (an
hour at most) and works once: using it, or any change of the password, voids every unused link
of that user. A forged, expired, used or disabled user's link is the same NotFound.

A reset ends every session of the user and logs nobody in: with two-factor login on, the next
login still asks for a code.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app import links
from app.delivery import password_reset as reset_email
from app.extensions import db
from app.jobs import queue
from app.models import EmailKind, User
from app.models.account import PasswordResetToken
from app.models.base import utcnow
from app.services import accounts, audit, emails, throttle
from app.services.errors import NotFound

MAX_TOKEN = 64  # a real token is 43 characters; anything longer is not looked up


def request(email: str) -> None:
    """Send a reset link to ``email`` if an active user has it and the limits allow. Commits."""
    address = (email or "").strip().lower()
    try:
        throttle.reserve(throttle.reset_limits(address, audit.client_ip()), "reset requests")
    except throttle.TooManyAttempts:
        return
    user = None if "\x00" in address else db.session.scalar(sa.select(User).where(User.email == address))
    if user is None or not user.active:
        return
    now = utcnow()
    nonce = secrets.token_urlsafe(32)
    token = reset_email.token_for(current_app.config["SECRET_KEY"], nonce)
    row = emails.queue_own_email(user.account_id, user.email, EmailKind.PASSWORD_RESET)
    db.session.add(
        PasswordResetToken(
            user_id=user.id,
            token_hash=links.digest(token),
            nonce=nonce,
            email_id=row.id,
            created_at=now,
            expires_at=now + timedelta(seconds=current_app.config["PASSWORD_RESET_TTL"]),
        )
    )
    audit.record("password_reset_requested", user=user, target=f"user {user.email}")
    email_id = row.id
    db.session.commit()
    queue.deliver_emails([email_id])


def valid_link(token: str) -> PasswordResetToken:
    """The unused, unexpired link of an active user behind ``token``; NotFound for anything else."""
    link = None
    if token and len(token) <= MAX_TOKEN:
        link = db.session.scalar(
            sa.select(PasswordResetToken).where(PasswordResetToken.token_hash == links.digest(token))
        )
    if link is None or link.used_at is not None or link.expires_at <= utcnow() or not link.user.active:
        raise NotFound("this link is not valid: it was used already, it expired, or it was never ours")
    return link


def reset(link: PasswordResetToken, new_password: str) -> User:
    """Set a new password through ``link`` (from ``valid_link``), once; every session of the user
    ends. Commits.

    Raises ValidationFailed for a password the rules refuse (the link stays usable), NotFound
    for a link a request racing this one used first.
    """
    accounts._check_password(new_password)
    # Compare-and-set: of two requests racing with one link, only one uses it.
    claimed = db.session.execute(
        sa.update(PasswordResetToken)
        .where(PasswordResetToken.id == link.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        db.session.rollback()
        raise NotFound("this link is not valid: it was used already, it expired, or it was never ours")
    user = link.user
    accounts.set_password(user, new_password)  # voids the user's other links too
    audit.record("password_reset", user=user, target=f"user {user.email}")
    db.session.commit()
    return user
