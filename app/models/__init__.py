"""All models, importable from one place (and seen by Alembic autogenerate)."""

from app.models.account import Account, ApiToken, Setting, User
from app.models.audience import ErasedAddress
from app.models.audit import AuditEvent
from app.models.campaign import Campaign
from app.models.campaign_counts import CampaignActivity, CampaignStatusCount
from app.models.email import DeliveryAttempt, EmailEvent, SentEmail
from app.models.enums import (
    BodyFormat,
    CampaignStatus,
    EmailKind,
    EmailStatus,
    Outcome,
    Role,
    SubscriberStatus,
    SuppressionReason,
)
from app.models.imports import ImportAddress, ImportRowError, ImportStatus, SubscriberImport
from app.models.lists import MailingList, Subscriber
from app.models.provider import Provider  # noqa: F401
from app.models.suppression import Suppression
from app.models.tracking import EmailClick, EmailOpen, TrackedLink
from app.models.transactional import EmailTemplate, IdempotencyKey, TransactionalAttachment, TransactionalEmail
from app.models.webhook import WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEvent

__all__ = [
    "Account",
    "ApiToken",
    "AuditEvent",
    "BodyFormat",
    "Campaign",
    "CampaignActivity",
    "CampaignStatusCount",
    "CampaignStatus",
    "DeliveryAttempt",
    "EmailClick",
    "EmailEvent",
    "EmailKind",
    "EmailOpen",
    "EmailStatus",
    "EmailTemplate",
    "ErasedAddress",
    "IdempotencyKey",
    "ImportAddress",
    "ImportRowError",
    "ImportStatus",
    "MailingList",
    "Outcome",
    "Role",
    "SentEmail",
    "Setting",
    "Subscriber",
    "SubscriberImport",
    "SubscriberStatus",
    "Suppression",
    "SuppressionReason",
    "TrackedLink",
    "TransactionalAttachment",
    "TransactionalEmail",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookDeliveryStatus",
    "WebhookEndpoint",
    "WebhookEvent",
]
