"""Record a pixel fetch or a tracked-link click, for the public tracking routes.

Both answer at once: the hit is queued in Redis (``app.tracking.buffer``) and written later by
the flush job, or written here when Redis is away. Only what a valid token names is recorded;
the answer to an invalid one is the caller's to make (the pixel still, the click a 404).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import SentEmail, TrackedLink
from app.models.base import utcnow
from app.tracking import buffer, machine, tokens
from app.tracking.store import CLICK, OPEN, Hit, printable


def _key() -> bytes:
    return tokens.tracking_key(current_app.config["SECRET_KEY"])


def _record(kind: str, email_id: int, link_id: int | None, method: str, user_agent: str, address: str | None) -> None:
    hit = Hit(kind, email_id, link_id, utcnow(), method, printable(user_agent), machine.ip_prefix(address))
    if buffer.push(current_app.extensions["redis"], db.session, hit):
        from app.jobs import tracking  # the jobs package owns the queue

        tracking.ring()


def record_open(token: str, method: str, user_agent: str, address: str | None) -> bool:
    """Record the open a pixel token names; answer whether the token was valid."""
    email_id = tokens.parse_open(_key(), token)
    if email_id is None:
        return False
    _record(OPEN, email_id, None, method, user_agent, address)
    return True


def record_click(token: str, method: str, user_agent: str, address: str | None) -> str | None:
    """The URL a click token leads to, after recording the click; None for an invalid token."""
    parsed = tokens.parse_click(_key(), token)
    if parsed is None:
        return None
    email_id, position = parsed
    link = db.session.execute(
        sa.select(TrackedLink.id, TrackedLink.url)
        .join(SentEmail, SentEmail.campaign_id == TrackedLink.campaign_id)
        .where(SentEmail.id == email_id, TrackedLink.position == position)
    ).first()
    if link is None:
        return None
    _record(CLICK, email_id, link.id, method, user_agent, address)
    return link.url
