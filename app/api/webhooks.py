"""API v1 webhook endpoints and their deliveries (CONTRACT.md sections 5 and 7).

The signing secret appears in two answers only: the endpoint's creation and a secret rotation.
"""

from __future__ import annotations

import json

from pydantic import Field

from app.api import paging
from app.api.auth import account_id
from app.api.openapi import api_route
from app.api.schemas import Body, Out, Page, PageQuery, Timestamp
from app.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from app.services import webhooks
from app.webhooks.outbox import EVENT_TYPES

_EVENTS_HELP = "event types to receive: " + ", ".join(f"`{t}`" for t in EVENT_TYPES)


class WebhookCreate(Body):
    url: str = Field(description="where to POST events (http or https)")
    events: list[str] = Field(description=_EVENTS_HELP)
    description: str = ""
    enabled: bool = True


class WebhookUpdate(Body):
    url: str | None = None
    events: list[str] | None = Field(None, description=_EVENTS_HELP)
    description: str | None = None
    enabled: bool | None = Field(None, description="true also clears the reason Postroom disabled it for")


class RotateSecret(Body):
    overlap_seconds: int | None = Field(
        None, description="how long the previous secret keeps signing too (default a day; 0 stops it now)"
    )


class WebhookOut(Out):
    id: int
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None = Field(description="why Postroom disabled it, e.g. the endpoint answered 410 Gone")
    disabled_at: Timestamp | None
    previous_secret_expires_at: Timestamp | None = Field(
        description="after a rotation: until when the previous secret signs next to the new one"
    )
    created_at: Timestamp
    updated_at: Timestamp


class WebhookWithSecret(WebhookOut):
    """The endpoint with its signing secret, shown in this answer only."""

    secret: str = Field(description="`whsec_...`: verify each request's `webhook-signature` with it")


class WebhookAttemptOut(Out):
    number: int
    started_at: Timestamp
    url: str
    request_headers: dict[str, str]
    status_code: int | None = Field(description="the endpoint's answer; null when none came")
    response_excerpt: str = Field(description="the start of the response body")
    elapsed_ms: int
    error: str | None = Field(description="why the attempt did not succeed")


class WebhookDeliveryOut(Out):
    id: int
    event_id: str = Field(description="`msg_...`, the `webhook-id` header of every attempt")
    event_type: str
    status: WebhookDeliveryStatus
    attempt_count: int
    next_attempt_at: Timestamp | None = Field(description="when a pending delivery is tried next")
    last_status_code: int | None
    last_error: str | None
    created_at: Timestamp
    updated_at: Timestamp
    finished_at: Timestamp | None
    payload: dict = Field(description="the request body: `type`, `timestamp`, `data`")
    attempts: list[WebhookAttemptOut]


class DeliveryQuery(PageQuery):
    status: WebhookDeliveryStatus | None = None


def _delivery(delivery: WebhookDelivery) -> dict:
    return {
        "id": delivery.id,
        "event_id": delivery.event.public_id,
        "event_type": delivery.event.type,
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": delivery.next_attempt_at if delivery.status == WebhookDeliveryStatus.PENDING else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
        "finished_at": delivery.finished_at,
        "payload": json.loads(delivery.event.payload),
        "attempts": delivery.attempts,
    }


@api_route("/webhooks", query=PageQuery, response=Page[WebhookOut])
def list_webhooks(query: PageQuery):
    """Your webhook endpoints, newest first."""
    return paging.keyset(webhooks.query(account_id()), WebhookEndpoint, query)


@api_route("/webhooks", "POST", body=WebhookCreate, response=WebhookWithSecret, status=201, errors=(409,))
def create_webhook(body: WebhookCreate):
    """Subscribe an endpoint to event types; the answer shows its signing secret, once."""
    return webhooks.create(account_id(), body.url, body.events, body.description, body.enabled)


@api_route("/webhooks/<int:webhook_id>", response=WebhookOut)
def get_webhook(webhook_id: int):
    """One webhook endpoint (without its secret)."""
    return webhooks.get(account_id(), webhook_id)


@api_route("/webhooks/<int:webhook_id>", "PATCH", body=WebhookUpdate, response=WebhookOut)
def update_webhook(webhook_id: int, body: WebhookUpdate):
    """Change an endpoint's URL, events, description, or enable or disable it."""
    return webhooks.update(account_id(), webhook_id, **body.model_dump(exclude_unset=True))


@api_route("/webhooks/<int:webhook_id>", "DELETE")
def delete_webhook(webhook_id: int):
    """Delete an endpoint and its delivery history."""
    webhooks.delete(account_id(), webhook_id)


@api_route("/webhooks/<int:webhook_id>/rotate-secret", "POST", body=RotateSecret, response=WebhookWithSecret)
def rotate_webhook_secret(webhook_id: int, body: RotateSecret):
    """Give the endpoint a new secret, shown once; the previous one keeps signing for the overlap."""
    return webhooks.rotate_secret(account_id(), webhook_id, body.overlap_seconds)


@api_route("/webhooks/<int:webhook_id>/test", "POST", response=WebhookDeliveryOut, status=202, errors=(409,))
def test_webhook(webhook_id: int):
    """Send the endpoint a `webhook.test` event."""
    return _delivery(webhooks.send_test(account_id(), webhook_id))


@api_route("/webhooks/<int:webhook_id>/deliveries", query=DeliveryQuery, response=Page[WebhookDeliveryOut])
def list_webhook_deliveries(webhook_id: int, query: DeliveryQuery):
    """The endpoint's deliveries, newest first, with every attempt's request and response."""
    status = query.status.value if query.status else None
    return paging.keyset(webhooks.deliveries(account_id(), webhook_id, status), WebhookDelivery, query, _delivery)


@api_route("/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>", response=WebhookDeliveryOut)
def get_webhook_delivery(webhook_id: int, delivery_id: int):
    """One delivery with its attempts."""
    return _delivery(webhooks.get_delivery(account_id(), webhook_id, delivery_id))


@api_route(
    "/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/replay",
    "POST",
    response=WebhookDeliveryOut,
    status=202,
    errors=(409,),
)
def replay_webhook_delivery(webhook_id: int, delivery_id: int):
    """Send a delivery's event again (same `webhook-id`); a pending one is tried now."""
    return _delivery(webhooks.replay(account_id(), webhook_id, delivery_id))
