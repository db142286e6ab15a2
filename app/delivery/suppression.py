"""Suppression checks and inserts shared by the engine and the services."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models import Suppression, SuppressionReason
from app.models.base import utcnow


def active(now: datetime) -> sa.ColumnElement[bool]:
    """The rule for a suppression that still blocks mail: no expiry, or an expiry still ahead."""
    return sa.or_(Suppression.expires_at.is_(None), Suppression.expires_at > now)


def is_suppressed(session: Session, account_id: int, email: str, now: datetime | None = None) -> bool:
    now = now or utcnow()
    stmt = sa.select(Suppression.id).where(
        Suppression.account_id == account_id,
        Suppression.email == email.lower(),
        active(now),
    )
    return session.execute(stmt).first() is not None


def suppress(
    session: Session,
    account_id: int,
    email: str,
    reason: SuppressionReason,
    detail: str = "",
    expires_at: datetime | None = None,
) -> bool:
    """Add ``email`` to the account's suppression list; False when it was already (actively) there.

    A row whose expiry has passed is renewed with the new reason, as if it were new.
    """
    email = email.lower()
    now = utcnow()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(Suppression).values(
        account_id=account_id, email=email, reason=reason, detail=detail[:1024], created_at=now, expires_at=expires_at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "email"],
        set_={
            "reason": stmt.excluded.reason,
            "detail": stmt.excluded.detail,
            "created_at": stmt.excluded.created_at,
            "expires_at": stmt.excluded.expires_at,
        },
        where=sa.and_(Suppression.expires_at.is_not(None), Suppression.expires_at <= now),
    )
    # Whether a row was written, read from RETURNING: rowcount is not reliable for upserts.
    return session.execute(stmt.returning(Suppression.id)).first() is not None
