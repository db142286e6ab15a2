"""All models, importable from one place (and seen by Alembic autogenerate)."""

from app.models.account import Account, ApiToken, Setting, User
from app.models.campaign import Campaign
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
from app.models.lists import MailingList, Subscriber
from app.models.provider import Provider  # noqa: F401
from app.models.suppression import Suppression

__all__ = [
    "Account",
    "ApiToken",
    "BodyFormat",
    "Campaign",
    "CampaignStatus",
    "DeliveryAttempt",
    "EmailEvent",
    "EmailKind",
    "EmailStatus",
    "MailingList",
    "Outcome",
    "Role",
    "SentEmail",
    "Setting",
    "Subscriber",
    "SubscriberStatus",
    "Suppression",
    "SuppressionReason",
    "User",
]
