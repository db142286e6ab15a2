"""The password-reset e-mail, built by the engine like every other e-mail it sends.

The link's token is never stored. It is ``HMAC-SHA256(SECRET_KEY, nonce)`` (256 bits, URL-safe
base64), where ``nonce`` is 256 random bits kept on the ``password_reset_tokens`` row next to
the token's SHA-256: the worker derives the token again when it writes the e-mail, and the
web app finds the row by the SHA-256 of whatever token it is given. A copy of the database alone
holds no usable link. A link that is used, expired, or made under another secret key by the
time the e-mail is built fails the row (``TemplateProblem``) instead of sending a dead link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.utils import parseaddr

import sqlalchemy as sa
from markupsafe import escape
from sqlalchemy.orm import Session

from app.delivery.personalise import TemplateProblem
from app.delivery.render import Content
from app.delivery.settings import EngineSettings
from app.links import digest
from app.models.account import PasswordResetToken
from app.models.base import utcnow

PATH = "/password/reset/"
_PURPOSE = b"postroom password reset\x00"


def token_for(secret_key: str, nonce: str) -> str:
    mac = hmac.new(secret_key.encode(), _PURPOSE + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def content(session: Session, settings: EngineSettings, email_id: int) -> Content:
    """The reset e-mail of row ``email_id``, from ``MAIL_FROM``."""
    link = session.scalar(sa.select(PasswordResetToken).where(PasswordResetToken.email_id == email_id))
    if link is None:
        raise TemplateProblem("password-reset link", "the link is gone")
    if link.used_at is not None or link.expires_at <= utcnow():
        raise TemplateProblem("password-reset link", "the link was used or expired before it could be sent")
    token = token_for(settings.secret_key, link.nonce)
    if not hmac.compare_digest(digest(token), link.token_hash):
        raise TemplateProblem("password-reset link", "the secret key changed since it was asked for")
    url = f"{settings.base_url}{PATH}{token}"
    minutes = max(1, round((link.expires_at - link.created_at).total_seconds() / 60))
    name, address = parseaddr(settings.mail_from)
    text = (
        "Someone (we hope you) asked to reset the password of your Postroom account.\n\n"
        f"Open this link to choose a new password. It works once, for {minutes} minutes:\n{url}\n\n"
        "If you did not ask for this, ignore this message: your password stays as it is.\n"
    )
    html = (
        "<p>Someone (we hope you) asked to reset the password of your Postroom account.</p>"
        f'<p><a href="{escape(url)}">Choose a new password</a> (the link works once, for {minutes} minutes).</p>'
        "<p>If you did not ask for this, ignore this message: your password stays as it is.</p>"
    )
    return Content("Reset your Postroom password", address, name, html, text)
