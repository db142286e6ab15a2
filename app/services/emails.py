"""The send log: keyset-paginated queries over ``sent_emails`` and one e-mail's timeline."""

from __future__ import annotations

from email.utils import parseaddr

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from app.delivery.render import new_message_id
from app.extensions import db
from app.models import EmailKind, EmailStatus, SentEmail
from app.models.base import utcnow
from app.services.errors import ValidationFailed
from app.services.scope import owned

PAGE_SIZE = 50


def send_log(
    account_id: int,
    *,
    campaign_id: int | None = None,
    status: str | None = None,
    recipient: str | None = None,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> sa.Select:
    """Newest first; pass the last id seen as ``before_id`` for the next page.

    Keyset, not OFFSET: each page is an index range scan however deep it is.
    """
    if campaign_id is None:
        stmt = sa.select(SentEmail).where(SentEmail.account_id == account_id)
    else:
        # Still scoped to the account, but as an expression no index serves, so the campaign's
        # (campaign_id, ...) indexes are the only candidates. Walking (account_id, id) from the
        # newest row instead would read the whole account to reach an old campaign; in two of
        # four fresh 1,000,000-row SQLite builds (no statistics) this page took 223 ms, not 6.
        stmt = sa.select(SentEmail).where(SentEmail.account_id + 0 == account_id, SentEmail.campaign_id == campaign_id)
    if status:
        try:
            stmt = stmt.where(SentEmail.status == EmailStatus(status))
        except ValueError:
            raise ValidationFailed(f"unknown status {status!r}", "status") from None
    if recipient:
        stmt = stmt.where(SentEmail.recipient == recipient.strip().lower())
    if before_id is not None:
        stmt = stmt.where(SentEmail.id < before_id)
    return stmt.order_by(SentEmail.id.desc()).limit(limit)


def page(stmt: sa.Select, limit: int) -> tuple[list, int | None]:
    """Run a keyset query fetched with ``limit + 1``; return the rows and the next cursor."""
    rows = list(db.session.scalars(stmt))
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, rows[-1].id
    return rows, None


def status_counts(*where: sa.ColumnElement[bool]) -> sa.Select:
    """One row: how many ``sent_emails`` rows matching ``where`` are in each status, in ``EmailStatus`` order.

    One count per status, each over its own range of a ``(..., status, ...)`` index: plain
    range counts run 1.1 to 1.7 times faster than one GROUP BY over the same rows (see
    bench/README.md, "Pages"). Give only equalities such an index leads with: ``campaign_id``,
    ``account_id``, or nothing (the ``(status, lease_expires_at)`` index).
    """
    count = sa.select(sa.func.count()).select_from(SentEmail).where(*where)
    return sa.select(*(count.where(SentEmail.status == status).scalar_subquery() for status in EmailStatus))


def count_by_status(*where: sa.ColumnElement[bool]) -> dict[EmailStatus, int]:
    """Every status with its count (0 when none) among the rows matching ``where``."""
    return dict(zip(EmailStatus, db.session.execute(status_counts(*where)).one(), strict=True))


def get(account_id: int, email_id: int) -> SentEmail:
    return owned(
        SentEmail,
        account_id,
        email_id,
        "e-mail",
        selectinload(SentEmail.attempts),
        selectinload(SentEmail.stored_events),
    )


def queue_own_email(account_id: int, recipient: str, kind: EmailKind, **values) -> SentEmail:
    """A queued row for an e-mail Postroom writes itself (a confirmation, a password reset),
    sent from ``MAIL_FROM``; added and flushed, not committed. The engine builds it by kind."""
    now = utcnow()
    domain = parseaddr(current_app.config["MAIL_FROM"])[1].rpartition("@")[2] or "postroom.localhost"
    row = SentEmail(
        account_id=account_id,
        recipient=recipient,
        kind=kind,
        status=EmailStatus.QUEUED,
        message_id=new_message_id(domain),
        created_at=now,
        updated_at=now,
        **values,
    )
    db.session.add(row)
    db.session.flush()
    return row
