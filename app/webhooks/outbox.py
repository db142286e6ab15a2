"""The webhook outbox: events written in the caller's transaction, delivered after its commit.

``emit`` inserts one ``webhook_events`` row (its ``public_id`` is the ``webhook-id`` of every
attempt) and one pending ``webhook_deliveries`` row per enabled endpoint of the account that
subscribes to the type, in the caller's transaction: a rollback leaves no event, a commit
leaves the event and its deliveries together. When no endpoint subscribes, nothing is written.

``email_status_changed`` is the ledger's hook, called once per status change of an e-mail
(thousands a second while a campaign sends). Without a subscribed endpoint it costs one
query, prepared once per process: the e-mail by primary key joined with its account's enabled
endpoints, which finds none. A per-process cache of "who subscribes to what" would save that
query but could miss events for a moment after an endpoint is created in another process (an
event lost that way is lost silently), or insert deliveries for an endpoint just deleted.

After the commit of a transaction that emitted anything, the doorbell is rung
(``app.jobs.webhooks.ring``): the delivery job runs on its own queue. Redis only rings the
bell; the sweep finds deliveries whose bell was lost.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.models import DeliveryAttempt, EmailStatus, SentEmail, WebhookDeliveryStatus, WebhookEndpoint
from app.models.base import utcnow
from app.models.webhook import WebhookDelivery, WebhookEvent

# CONTRACT.md section 7. Opens and clicks come with tracking; endpoints may subscribe already.
EVENT_TYPES = (
    "email.delivered",
    "email.deferred",
    "email.bounced",
    "email.failed",
    "email.opened",
    "email.clicked",
    "email.complained",
    "subscriber.confirmed",
    "subscriber.unsubscribed",
)
TEST_EVENT = "webhook.test"  # the "send test ping" button: goes to one endpoint, whatever it subscribes to

EMAIL_EVENT_FOR = {
    EmailStatus.DELIVERED: "email.delivered",
    EmailStatus.DEFERRED: "email.deferred",
    EmailStatus.BOUNCED: "email.bounced",
    EmailStatus.FAILED: "email.failed",
}
# Statuses whose event carries what the server said.
_WITH_REPLY = (EmailStatus.DEFERRED, EmailStatus.BOUNCED, EmailStatus.FAILED)
# Without facts, these report the e-mail's latest attempt: the one that just bounced or failed it.
# A deferral may have made no attempt (no connection, a rate limit), so its codes come from facts only.
_FROM_LATEST_ATTEMPT = (EmailStatus.BOUNCED, EmailStatus.FAILED)

_EMITTED = "postroom.webhooks.emitted"  # session.info key: ring the doorbell after commit

_ENDPOINTS = WebhookEndpoint.__table__
_EVENTS = WebhookEvent.__table__
_DELIVERIES = WebhookDelivery.__table__
_EMAILS = SentEmail.__table__

# Prepared once: on the ledger's hot path, building a statement costs more than running it.
# The e-mails that moved, each with every enabled endpoint of its account: no row at all when
# the account has none, which is the common case and costs one primary-key and one index probe.
_EMAIL_COLUMNS = (
    _EMAILS.c.id,
    _EMAILS.c.account_id,
    _EMAILS.c.message_id,
    _EMAILS.c.recipient,
    _EMAILS.c.campaign_id,
    _EMAILS.c.subscriber_id,
    _EMAILS.c.reason,
)
_WITH_ENDPOINTS = sa.select(_ENDPOINTS.c.id.label("endpoint_id"), _ENDPOINTS.c.events, *_EMAIL_COLUMNS).select_from(
    _EMAILS.join(
        _ENDPOINTS, sa.and_(_ENDPOINTS.c.account_id == _EMAILS.c.account_id, _ENDPOINTS.c.enabled == sa.true())
    )
)
# One e-mail (the sender's case): an "=" renders faster than an expanding IN.
_EMAIL_WITH_ENDPOINTS = _WITH_ENDPOINTS.where(_EMAILS.c.id == sa.bindparam("email_id"))
_EMAILS_WITH_ENDPOINTS = _WITH_ENDPOINTS.where(_EMAILS.c.id.in_(sa.bindparam("email_ids", expanding=True))).order_by(
    _EMAILS.c.id
)
_ENDPOINTS_OF_ACCOUNT = sa.select(_ENDPOINTS.c.id, _ENDPOINTS.c.events).where(
    _ENDPOINTS.c.account_id == sa.bindparam("account_id"), _ENDPOINTS.c.enabled == sa.true()
)
_INSERT_EVENT = sa.insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
_INSERT_DELIVERY = sa.insert(_DELIVERIES)
_INSERT_DELIVERY_RETURNING = _INSERT_DELIVERY.returning(_DELIVERIES.c.id, sort_by_parameter_order=True)


def new_event_id() -> str:
    """A fresh ``webhook-id``: ``msg_`` and 128 random bits."""
    return "msg_" + secrets.token_hex(16)


def body(event_type: str, data: dict, at: datetime) -> str:
    """The request body of an event, exactly as sent: ``{"type", "timestamp", "data"}``."""
    return json.dumps({"type": event_type, "timestamp": at.isoformat(), "data": data}, separators=(",", ":"))


def emit(
    session: Session,
    account_id: int,
    event_type: str,
    data: dict,
    *,
    endpoint_ids: Sequence[int] | None = None,
    now: datetime | None = None,
) -> list[int]:
    """Write ``event_type`` for the account's subscribed endpoints; return the new delivery ids.

    ``endpoint_ids`` names the endpoints instead (the test ping), subscribed or not. Nothing is
    written when no endpoint is concerned. The caller commits.
    """
    if event_type not in EVENT_TYPES and event_type != TEST_EVENT:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if endpoint_ids is not None:
        targets = list(endpoint_ids)
    else:
        rows = session.connection().execute(_ENDPOINTS_OF_ACCOUNT, {"account_id": account_id})
        targets = [endpoint_id for endpoint_id, events in rows if event_type in events]
    if not targets:
        return []
    return _write(session, [(account_id, event_type, data, targets)], now or utcnow(), returning=True)


def email_status_changed(
    session: Session,
    email_ids: Sequence[int],
    status: EmailStatus,
    *,
    facts: dict | None = None,
    now: datetime | None = None,
) -> None:
    """The ledger's hook: the e-mails in ``email_ids`` just moved to ``status``.

    ``facts`` (``smtp_code``, ``enhanced_code``) come from whoever read the server's reply;
    without them a bounce or failure reports the e-mail's latest recorded attempt.
    """
    event_type = EMAIL_EVENT_FOR.get(status)
    if event_type is None or not email_ids:
        return
    connection = session.connection()
    if len(email_ids) == 1:
        rows = connection.execute(_EMAIL_WITH_ENDPOINTS, {"email_id": email_ids[0]})
    else:
        rows = connection.execute(_EMAILS_WITH_ENDPOINTS, {"email_ids": list(email_ids)})
    emails: dict[int, tuple] = {}  # email id -> (its row, the endpoints that want this event)
    for row in rows:
        if event_type in row.events:
            emails.setdefault(row.id, (row, []))[1].append(row.endpoint_id)
    if not emails:
        return
    replies = _latest_replies(connection, list(emails)) if facts is None and status in _FROM_LATEST_ATTEMPT else {}
    events = []
    for email, endpoint_ids in emails.values():
        data = {
            "email_id": email.id,
            "message_id": email.message_id,
            "recipient": email.recipient,
            "campaign_id": email.campaign_id,
            "subscriber_id": email.subscriber_id,
            "status": status.value,
        }
        if status in _WITH_REPLY:
            smtp_code, enhanced_code = replies.get(email.id, (None, None))
            data |= {"smtp_code": smtp_code, "enhanced_code": enhanced_code, "reason": email.reason}
        data |= facts or {}
        events.append((email.account_id, event_type, data, endpoint_ids))
    _write(session, events, now or utcnow())


def email_event(session: Session, email: SentEmail, event_type: str, extra: dict, now: datetime | None = None) -> None:
    """Emit an e-mail event that is not a status change (a complaint, later opens and clicks)."""
    data = {
        "email_id": email.id,
        "message_id": email.message_id,
        "recipient": email.recipient,
        "campaign_id": email.campaign_id,
        "subscriber_id": email.subscriber_id,
        "status": email.status.value,
    }
    emit(session, email.account_id, event_type, data | extra, now=now)


def _latest_replies(connection, email_ids: Iterable[int]) -> dict[int, tuple[int | None, str | None]]:
    """Each e-mail's latest attempt's (smtp_code, enhanced_code)."""
    attempts = DeliveryAttempt.__table__
    latest = (
        sa.select(sa.func.max(attempts.c.id))
        .where(attempts.c.email_id.in_(list(email_ids)))
        .group_by(attempts.c.email_id)
    )
    rows = connection.execute(
        sa.select(attempts.c.email_id, attempts.c.smtp_code, attempts.c.enhanced_code).where(attempts.c.id.in_(latest))
    )
    return {email_id: (smtp_code, enhanced_code) for email_id, smtp_code, enhanced_code in rows}


def _write(
    session: Session, events: list[tuple[int, str, dict, list[int]]], now: datetime, returning: bool = False
) -> list[int]:
    """Insert the events and their pending deliveries; mark the session to ring after commit.

    Answers the new delivery ids when ``returning`` (the hot path does not need them).
    """
    connection = session.connection()
    event_ids = connection.execute(
        _INSERT_EVENT,
        [
            {
                "public_id": new_event_id(),
                "account_id": account_id,
                "type": event_type,
                "payload": body(event_type, data, now),
                "created_at": now,
            }
            for account_id, event_type, data, _ in events
        ],
    ).scalars()
    deliveries = [
        {
            "event_id": event_id,
            "endpoint_id": endpoint_id,
            "account_id": account_id,
            "status": WebhookDeliveryStatus.PENDING,
            "attempt_count": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for event_id, (account_id, _, _, endpoint_ids) in zip(event_ids, events, strict=True)
        for endpoint_id in endpoint_ids
    ]
    session.info[_EMITTED] = True
    if not returning:
        connection.execute(_INSERT_DELIVERY, deliveries)
        return []
    return list(connection.execute(_INSERT_DELIVERY_RETURNING, deliveries).scalars())


def mark_due(session: Session) -> None:
    """Ring the doorbell after this session's commit (a replay, a retry brought forward)."""
    session.info[_EMITTED] = True


@event.listens_for(Session, "after_commit")
def _ring_after_commit(session: Session) -> None:
    if session.info.pop(_EMITTED, False):
        from app.jobs import webhooks  # the jobs package owns the queue

        webhooks.ring()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_EMITTED, None)
