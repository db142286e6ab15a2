"""Every status vocabulary of CONTRACT.md section 6, in one place."""

from __future__ import annotations

from enum import Enum


class SubscriberStatus(str, Enum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class CampaignStatus(str, Enum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class EmailStatus(str, Enum):
    QUEUED = "queued"
    SENDING = "sending"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_EMAIL_STATUSES


TERMINAL_EMAIL_STATUSES = frozenset(
    {
        EmailStatus.DELIVERED,
        EmailStatus.BOUNCED,
        EmailStatus.FAILED,
        EmailStatus.SUPPRESSED,
        EmailStatus.CANCELLED,
    }
)


class Role(str, Enum):
    ADMIN = "admin"
    MARKETER = "marketer"
    SUPPORT = "support"


class SuppressionReason(str, Enum):
    HARD_BOUNCE = "hard_bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    MANUAL = "manual"


class BodyFormat(str, Enum):
    MARKDOWN = "markdown"
    HTML = "html"


class Outcome(str, Enum):
    """What one delivery attempt came to, as the classifier decided."""

    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    FAILED = "failed"


class EmailKind(str, Enum):
    """Why a ``sent_emails`` row exists: a campaign recipient, a confirmation, an API send, a password reset."""

    CAMPAIGN = "campaign"
    CONFIRMATION = "confirmation"
    TRANSACTIONAL = "transactional"
    PASSWORD_RESET = "password_reset"
