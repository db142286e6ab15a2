"""The one place that changes an e-mail's status.

``transition`` checks each move against ``ALLOWED`` (CONTRACT.md section 6), applies it as a
compare-and-set UPDATE, and appends the timeline event for exactly the rows that moved, in the
caller's transaction. Terminal statuses never change, except ``delivered -> bounced`` when an
asynchronous bounce arrives. The caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.models import EmailEvent, EmailStatus, SentEmail
from app.models.base import utcnow
from app.webhooks import outbox

S = EmailStatus

ALLOWED: dict[EmailStatus, frozenset[EmailStatus]] = {
    S.QUEUED: frozenset({S.SENDING, S.SUPPRESSED, S.CANCELLED, S.FAILED}),
    S.SENDING: frozenset({S.DELIVERED, S.BOUNCED, S.FAILED, S.DEFERRED, S.SUPPRESSED, S.CANCELLED, S.QUEUED}),
    S.DEFERRED: frozenset({S.QUEUED, S.FAILED, S.SUPPRESSED, S.CANCELLED}),
    S.DELIVERED: frozenset({S.BOUNCED}),
    S.BOUNCED: frozenset(),
    S.FAILED: frozenset(),
    S.SUPPRESSED: frozenset(),
    S.CANCELLED: frozenset(),
}


class TransitionError(ValueError):
    """A move the status table does not allow from any of the given statuses."""


def sources_for(target: EmailStatus, among: Iterable[EmailStatus] | None = None) -> list[EmailStatus]:
    """The statuses from which ``target`` may be reached, optionally narrowed to ``among``."""
    allowed = [s for s, targets in ALLOWED.items() if target in targets]
    if among is not None:
        wanted = set(among)
        bad = wanted - set(allowed)
        if bad:
            raise TransitionError(f"cannot move from {sorted(b.value for b in bad)} to {target.value}")
        allowed = [s for s in allowed if s in wanted]
    return allowed


def transition(
    session: Session,
    email_ids: Sequence[int],
    target: EmailStatus,
    event: str,
    *,
    detail: str = "",
    from_statuses: Iterable[EmailStatus] | None = None,
    values: dict | None = None,
    where: Sequence[sa.ColumnElement[bool]] = (),
    now: datetime | None = None,
    facts: dict | None = None,
) -> list[int]:
    """Move the rows in ``email_ids`` to ``target`` and log ``event``; return the ids that moved.

    Rows whose current status may not move to ``target`` (or that fail ``where``) are left
    alone and not returned: that is the compare-and-set every concurrent caller relies on.
    The webhook event of the move (``email.delivered``, ...) goes into the outbox in the same
    transaction; ``facts`` (``smtp_code``, ``enhanced_code``) are added to its data.
    """
    if not email_ids:
        return []
    now = now or utcnow()
    sources = sources_for(target, from_statuses)
    stmt = (
        sa.update(SentEmail)
        .where(SentEmail.id.in_(list(email_ids)), SentEmail.status.in_(sources), *where)
        .values(status=target, updated_at=now, **(values or {}))
        .returning(SentEmail.id)
        .execution_options(synchronize_session=False)
    )
    moved = list(session.execute(stmt).scalars())
    if moved:
        session.execute(
            sa.insert(EmailEvent),
            [{"email_id": i, "type": event, "at": now, "detail": detail[:1024]} for i in moved],
        )
        outbox.email_status_changed(session, moved, target, facts=facts, now=now)
    return moved


_SETTLE: dict[tuple, sa.Update] = {}
_INSERT_EVENT = sa.insert(EmailEvent.__table__)


def settle(
    session: Session,
    email_id: int,
    lease_token: str,
    target: EmailStatus,
    event: str,
    *,
    detail: str = "",
    values: dict,
    now: datetime | None = None,
    facts: dict | None = None,
) -> bool:
    """``transition`` for the one row a sender holds (``sending`` under ``lease_token``).

    The same table and the same compare-and-set, as one prepared statement per kind of move: the
    engine calls this once per message sent, where building a statement each time would cost
    more than executing it. Answers whether the row moved.
    """
    if target not in ALLOWED[S.SENDING]:
        raise TransitionError(f"cannot move from sending to {target.value}")
    now = now or utcnow()
    key = (target, *sorted(values))
    stmt = _SETTLE.get(key)
    if stmt is None:
        table = SentEmail.__table__
        stmt = _SETTLE[key] = (
            sa.update(table)
            .where(
                table.c.id == sa.bindparam("_id"),
                table.c.status == S.SENDING,
                table.c.lease_token == sa.bindparam("_lease"),
            )
            .values(status=target, updated_at=sa.bindparam("_now"), **{k: sa.bindparam(f"v_{k}") for k in values})
        )
    conn = session.connection()
    moved = (
        conn.execute(
            stmt, {"_id": email_id, "_lease": lease_token, "_now": now, **{f"v_{k}": v for k, v in values.items()}}
        ).rowcount
        == 1
    )
    if moved:
        conn.execute(_INSERT_EVENT, {"email_id": email_id, "type": event, "at": now, "detail": detail[:1024]})
        outbox.email_status_changed(session, [email_id], target, facts=facts, now=now)
    return moved


def settle_delivered(
    session: Session, details: dict[int, str], lease_token: str, *, now: datetime | None = None
) -> list[int]:
    """``settle`` for a group of rows the sender holds that the server accepted, in one UPDATE.

    ``details`` maps each e-mail id to its timeline detail (the server's reply). Each row's
    ``attempt_count`` goes up by one in SQL and ``sent_at`` is the time of writing. Answers the
    ids that moved (those still ``sending`` under ``lease_token``).
    """
    if not details:
        return []
    now = now or utcnow()
    table = SentEmail.__table__
    stmt = (
        sa.update(table)
        .where(table.c.id.in_(list(details)), table.c.status == S.SENDING, table.c.lease_token == lease_token)
        .values(
            status=S.DELIVERED,
            updated_at=now,
            sent_at=now,
            reason=None,
            lease_token=None,
            lease_expires_at=None,
            attempt_count=table.c.attempt_count + 1,
        )
        .returning(table.c.id)
    )
    moved = list(session.connection().execute(stmt).scalars())
    if moved:
        session.connection().execute(
            _INSERT_EVENT,
            [{"email_id": i, "type": S.DELIVERED.value, "at": now, "detail": details[i][:1024]} for i in moved],
        )
        outbox.email_status_changed(session, moved, S.DELIVERED, now=now)
    return moved
