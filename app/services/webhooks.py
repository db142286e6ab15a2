"""Webhook endpoints of one account: subscribe, change, rotate the secret, test, replay.

Every function is scoped to the account and owns its transaction. The signing secret is
returned by ``create`` and ``rotate_secret`` only; the dashboard and the API show it once,
right then. A rotation keeps the previous secret signing next to the new one for an overlap
(``WEBHOOK_SECRET_OVERLAP``, one day by default), so receivers can switch without a gap.
Raises ValidationFailed for bad input, NotFound for another account's ids, Conflict for an
action the endpoint's state does not allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from app.models import WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from app.models.base import utcnow
from app.services import validation
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.scope import owned
from app.webhooks import client, outbox, signing

EVENT_TYPES = outbox.EVENT_TYPES
MAX_ENDPOINTS = 20  # per account: every event is written once per endpoint
MAX_DESCRIPTION = 200
MAX_OVERLAP = 7 * 86400
STATUSES = tuple(status.value for status in WebhookDeliveryStatus)


def query(account_id: int) -> sa.Select:
    return (
        sa.select(WebhookEndpoint).where(WebhookEndpoint.account_id == account_id).order_by(WebhookEndpoint.id.desc())
    )


def get(account_id: int, endpoint_id: int) -> WebhookEndpoint:
    return owned(WebhookEndpoint, account_id, endpoint_id, "webhook")


# Validation: one rule per field, shared by create and update.


def _url(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("url is required, like https://example.com/webhooks/postroom", "url")
    try:
        return client.check_url(value.strip())
    except ValueError as exc:
        raise ValidationFailed(f"url is not usable: {exc}", "url") from None


def _events(value) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed("events must be a list of event types", "events")
    unknown = sorted(set(value) - set(EVENT_TYPES))
    if unknown:
        raise ValidationFailed(
            f"unknown event type(s) {', '.join(unknown)}; choose from {', '.join(EVENT_TYPES)}", "events"
        )
    if not value:
        raise ValidationFailed(f"choose at least one event type: {', '.join(EVENT_TYPES)}", "events")
    return [event_type for event_type in EVENT_TYPES if event_type in value]


def _description(value) -> str:
    if not isinstance(value, str):
        raise ValidationFailed("description must be text", "description")
    return validation.plain_text(value, "description", required=False, max_length=MAX_DESCRIPTION)


def _enabled(value) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed("enabled must be true or false", "enabled")
    return value


_RULES = {"url": _url, "events": _events, "description": _description, "enabled": _enabled}


def _clean(changes: dict) -> dict:
    unknown = set(changes) - set(_RULES)
    if unknown:
        raise ValidationFailed(f"unknown webhook fields: {', '.join(sorted(unknown))}", sorted(unknown)[0])
    return {key: _RULES[key](value) for key, value in changes.items()}


def create(
    account_id: int, url: str, events: list[str], description: str = "", enabled: bool = True
) -> WebhookEndpoint:
    """Add an endpoint with a fresh secret (``endpoint.secret``, to be shown once)."""
    fields = _clean({"url": url, "events": events, "description": description, "enabled": enabled})
    count = db.session.scalar(
        sa.select(sa.func.count(WebhookEndpoint.id)).where(WebhookEndpoint.account_id == account_id)
    )
    if count >= MAX_ENDPOINTS:
        raise Conflict(f"an account has at most {MAX_ENDPOINTS} webhook endpoints; delete one first")
    now = utcnow()
    endpoint = WebhookEndpoint(account_id=account_id, secret=signing.new_secret(), created_at=now, updated_at=now)
    for key, value in fields.items():
        setattr(endpoint, key, value)
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def update(account_id: int, endpoint_id: int, **changes) -> WebhookEndpoint:
    """Change the given fields; enabling clears the reason it was disabled for."""
    endpoint = get(account_id, endpoint_id)
    fields = _clean(changes)
    if fields.get("enabled", endpoint.enabled) != endpoint.enabled:
        # Saving a disabled endpoint's other fields keeps the reason Postroom disabled it for.
        endpoint.disabled_reason = None
        endpoint.disabled_at = None if fields["enabled"] else utcnow()
    for key, value in fields.items():
        setattr(endpoint, key, value)
    endpoint.updated_at = utcnow()
    db.session.commit()
    return endpoint


def delete(account_id: int, endpoint_id: int) -> None:
    """Delete an endpoint with its deliveries and their attempts (events go with the next prune)."""
    endpoint = get(account_id, endpoint_id)
    deliveries = sa.select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.commit()


def rotate_secret(
    account_id: int, endpoint_id: int, overlap_seconds: int | None = None, now: datetime | None = None
) -> WebhookEndpoint:
    """Give the endpoint a new secret; the current one keeps signing for ``overlap_seconds``."""
    if overlap_seconds is None:
        overlap_seconds = current_app.config["WEBHOOK_SECRET_OVERLAP"]
    if isinstance(overlap_seconds, bool) or not isinstance(overlap_seconds, int):
        raise ValidationFailed("overlap_seconds must be a whole number of seconds", "overlap_seconds")
    if not 0 <= overlap_seconds <= MAX_OVERLAP:
        raise ValidationFailed(
            f"overlap_seconds must be between 0 and {MAX_OVERLAP} (7 days), got {overlap_seconds}", "overlap_seconds"
        )
    endpoint = get(account_id, endpoint_id)
    now = now or utcnow()
    endpoint.previous_secret = endpoint.secret if overlap_seconds else None
    endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap_seconds) if overlap_seconds else None
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = now
    db.session.commit()
    return endpoint


def send_test(account_id: int, endpoint_id: int) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for this endpoint alone, whatever it subscribes to."""
    endpoint = get(account_id, endpoint_id)
    if not endpoint.enabled:
        raise Conflict("this endpoint is disabled; enable it to send a test")
    data = {"endpoint_id": endpoint.id, "message": "A test event from Postroom: your endpoint is reachable."}
    [delivery_id] = outbox.emit(db.session, account_id, outbox.TEST_EVENT, data, endpoint_ids=[endpoint.id])
    db.session.commit()
    return get_delivery(account_id, endpoint.id, delivery_id)


def replay(account_id: int, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a delivery's event again, same ``webhook-id``; a pending one is tried now instead.

    A finished delivery (succeeded or failed) gets a new delivery row, so the page keeps both.
    """
    endpoint = get(account_id, endpoint_id)
    delivery = get_delivery(account_id, endpoint.id, delivery_id)
    if not endpoint.enabled:
        raise Conflict("this endpoint is disabled; enable it to replay deliveries")
    now = utcnow()
    if delivery.status == WebhookDeliveryStatus.PENDING:
        # Only one not currently being sent: a leased delivery's next_attempt_at is its lease.
        db.session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id, WebhookDelivery.lease_token.is_(None))
            .values(next_attempt_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        again = delivery
    else:
        again = WebhookDelivery(
            event_id=delivery.event_id,
            endpoint_id=endpoint.id,
            account_id=account_id,
            status=WebhookDeliveryStatus.PENDING,
            attempt_count=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        db.session.add(again)
    outbox.mark_due(db.session)
    db.session.commit()
    return get_delivery(account_id, endpoint.id, again.id)


# Reading deliveries


def deliveries(account_id: int, endpoint_id: int, status: str | None = None) -> sa.Select:
    """The endpoint's deliveries, newest first, with their event and attempts."""
    endpoint = get(account_id, endpoint_id)
    stmt = (
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.account_id == account_id)
        .options(joinedload(WebhookDelivery.event), selectinload(WebhookDelivery.attempts))
        .order_by(WebhookDelivery.id.desc())
    )
    if status:
        if status not in STATUSES:
            raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}, got {status!r}", "status")
        stmt = stmt.where(WebhookDelivery.status == WebhookDeliveryStatus(status))
    return stmt


def get_delivery(account_id: int, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    delivery = db.session.scalar(
        sa.select(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.account_id == account_id,
        )
        .options(joinedload(WebhookDelivery.event), selectinload(WebhookDelivery.attempts))
        .execution_options(populate_existing=True)
    )
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} of webhook {endpoint_id} not found")
    return delivery


@dataclass(frozen=True)
class LastDelivery:
    status: WebhookDeliveryStatus
    status_code: int | None
    at: datetime


def last_deliveries(account_id: int, endpoint_ids: list[int]) -> dict[int, LastDelivery]:
    """Each endpoint's newest delivery (for the list page), in one query."""
    if not endpoint_ids:
        return {}
    newest = (
        sa.select(sa.func.max(WebhookDelivery.id))
        .where(WebhookDelivery.account_id == account_id, WebhookDelivery.endpoint_id.in_(endpoint_ids))
        .group_by(WebhookDelivery.endpoint_id)
    )
    rows = db.session.execute(
        sa.select(
            WebhookDelivery.endpoint_id,
            WebhookDelivery.status,
            WebhookDelivery.last_status_code,
            WebhookDelivery.updated_at,
        ).where(WebhookDelivery.id.in_(newest))
    )
    return {row.endpoint_id: LastDelivery(row.status, row.last_status_code, row.updated_at) for row in rows}
