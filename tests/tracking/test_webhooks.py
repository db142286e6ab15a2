"""email.opened and email.clicked land in the webhook outbox with the hits that caused them."""

from __future__ import annotations

import json

import sqlalchemy as sa

from app.extensions import db
from app.models import WebhookDelivery, WebhookEvent
from app.services import webhooks
from tests.tracking.test_routes import _get


def _events(kind: str) -> list[dict]:
    rows = db.session.scalars(
        sa.select(WebhookEvent.payload).where(WebhookEvent.type == kind).order_by(WebhookEvent.id)
    )
    return [json.loads(payload) for payload in rows]


def test_opens_and_clicks_are_emitted_to_subscribed_endpoints(client, send_campaign, run_jobs):
    sent = send_campaign(count=1)
    [recipient] = sent.html
    endpoint = webhooks.create(sent.account_id, "https://hooks.example.com/in", ["email.opened", "email.clicked"])
    email_id = sent.emails[recipient]

    _get(client, sent.pixel(recipient), agent="Mozilla/5.0", address="17.1.2.3")  # Apple's proxy first
    _get(client, sent.pixel(recipient))  # then the reader
    _get(client, sent.pixel(recipient))  # and again: no third event
    _get(client, sent.links(recipient)[1])
    run_jobs()

    opened = _events("email.opened")
    assert [e["data"]["machine"] for e in opened] == [True, False]
    assert opened[0]["data"]["machine_reason"] == "apple_proxy" and opened[1]["data"]["machine_reason"] is None
    for event in opened:
        assert event["data"]["email_id"] == email_id and event["data"]["recipient"] == recipient
        assert event["data"]["campaign_id"] == sent.campaign.id and event["data"]["status"] == "delivered"
        assert event["data"]["message_id"]
    [clicked] = _events("email.clicked")
    assert clicked["data"]["url"] == "http://example.org/shop" and clicked["data"]["machine"] is False
    assert clicked["data"]["email_id"] == email_id
    deliveries = db.session.scalars(sa.select(WebhookDelivery.endpoint_id)).all()
    assert deliveries == [endpoint.id] * 3


def test_nothing_is_emitted_without_a_subscribed_endpoint(client, send_campaign, run_jobs):
    sent = send_campaign(count=1)
    [recipient] = sent.html
    webhooks.create(sent.account_id, "https://hooks.example.com/in", ["email.bounced"])

    _get(client, sent.pixel(recipient))
    _get(client, sent.links(recipient)[0])
    run_jobs()

    assert _events("email.opened") == [] and _events("email.clicked") == []
