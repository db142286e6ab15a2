"""Webhook endpoints and their outbox: events, one delivery per (event, endpoint), each attempt.

An event's ``payload`` is the exact request body, written once; every attempt and every replay
sends these same bytes under the same ``webhook-id`` (``public_id``), so receivers can dedupe.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.crypto import EncryptedText
from app.extensions import db
from app.models.base import UTCDateTime, enum_column, utcnow


class WebhookDeliveryStatus(str, Enum):
    PENDING = "pending"  # waiting for its first or next attempt
    SUCCEEDED = "succeeded"  # the endpoint answered 2xx
    FAILED = "failed"  # retries exhausted, or the endpoint is gone (410)


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoints"
    # The outbox asks "which enabled endpoints does this account have?" once per status change.
    __table_args__ = (sa.Index("ix_webhook_endpoints_account_enabled", "account_id", "enabled"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    url: Mapped[str] = mapped_column(sa.String(2048))
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    # The event types it subscribes to, e.g. ["email.bounced", "email.complained"].
    events: Mapped[list[str]] = mapped_column(sa.JSON)
    enabled: Mapped[bool] = mapped_column(default=True)
    # Why it was disabled, when Postroom did it (e.g. the endpoint answered 410 Gone).
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(1024))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Stored encrypted (app/crypto.py). After a rotation the previous secret keeps signing,
    # next to the new one, until ``previous_secret_expires_at``.
    secret: Mapped[str] = mapped_column(EncryptedText)
    previous_secret: Mapped[str | None] = mapped_column(EncryptedText)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets a request sent at ``now`` is signed with: the current one first."""
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            secrets.append(self.previous_secret)
        return secrets


class WebhookEvent(db.Model):
    __tablename__ = "webhook_events"
    __table_args__ = (sa.Index("ix_webhook_events_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # "msg_<random>": the webhook-id header of every attempt and replay.
    public_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    type: Mapped[str] = mapped_column(sa.String(40))
    # The request body, byte for byte: {"type", "timestamp", "data"} (CONTRACT.md section 7).
    payload: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(db.Model):
    """One event for one endpoint: its state, its retry schedule and the lease of a sender."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The deliveries page (newest first) and the per-endpoint claim of due work.
        sa.Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
        sa.Index("ix_webhook_deliveries_endpoint_due", "endpoint_id", "status", "next_attempt_at"),
        # In-flight counts and the sweep of due or abandoned deliveries.
        sa.Index("ix_webhook_deliveries_status_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_events.id"), index=True)
    endpoint_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_endpoints.id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    status: Mapped[WebhookDeliveryStatus] = mapped_column(
        enum_column(WebhookDeliveryStatus, "webhook_delivery_status"), default=WebhookDeliveryStatus.PENDING
    )
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_token: Mapped[str | None] = mapped_column(sa.String(32))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[WebhookEvent] = relationship()
    attempts: Mapped[list[WebhookAttempt]] = relationship(order_by="WebhookAttempt.id")


class WebhookAttempt(db.Model):
    """One HTTP request of a delivery and what came back (or why nothing did).

    The body is the event's ``payload``, identical on every attempt, so it is not copied here.
    """

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_deliveries.id"), index=True)
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    url: Mapped[str] = mapped_column(sa.String(2048))
    # The request headers as sent, signatures included (JSON object).
    request_headers: Mapped[dict] = mapped_column(sa.JSON)
    status_code: Mapped[int | None]
    # The start of the response body, cut: it comes from outside and must not grow without bound.
    response_excerpt: Mapped[str] = mapped_column(sa.String(2048), default="")
    elapsed_ms: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.String(1024))
