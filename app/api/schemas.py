"""Pydantic models: the request bodies and queries the API accepts and the objects it answers.

They check shape only (types, required fields, unknown fields); the services own every content
rule (addresses, header values, sizes), so each rule lives in one place. The OpenAPI document is
generated from these same models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.models import BodyFormat, CampaignStatus, EmailKind, EmailStatus, Outcome, SubscriberStatus
from app.services.personalise import MAX_ATTRIBUTE_NAME, MAX_ATTRIBUTES, MAX_ATTRIBUTES_BYTES

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# PostgreSQL's integer: the largest id or count a column holds (SQLite fails on 64-bit overflow).
MAX_INT = 2**31 - 1

# ISO-8601 with an explicit "+00:00" offset, which every client's parser understands.
Timestamp = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def storable(value: Any) -> Any:
    """Refuse what no column holds (a value or a list item), before a query trips on it.

    Integers past PostgreSQL's integer, and text with NUL characters, which PostgreSQL refuses.
    """
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INT:
            raise PydanticCustomError("int_range", "Input should be between -{max} and {max}", {"max": MAX_INT})
        if isinstance(item, str) and "\x00" in item:
            raise PydanticCustomError("nul_character", "Input must not contain NUL characters")
    return value


class Body(BaseModel):
    """A JSON request body: strict JSON types, and unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", strict=True)
    _storable = field_validator("*")(storable)


class Query(BaseModel):
    """Query-string filters: values arrive as text and are converted; unknown names are an error."""

    model_config = ConfigDict(extra="forbid")
    _storable = field_validator("*")(storable)


class PageQuery(Query):
    cursor: int | None = Field(None, description="`next_cursor` of the previous page")
    limit: int = Field(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="page size")


class Out(BaseModel):
    """A response object, read from a model's attributes."""

    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(Out, Generic[T]):
    """One page of a collection, newest first; pass ``next_cursor`` as ``cursor`` for the next."""

    data: list[T]
    next_cursor: str | None


class ErrorDetail(Out):
    code: str
    message: str
    field: str | None = Field(description="the request field at fault, when there is one")


class ErrorOut(Out):
    error: ErrorDetail


class HealthOut(Out):
    """Whether this server reaches its database and Redis."""

    status: Literal["ok", "degraded"]
    database: str = Field(description='"ok", or the error the check raised')
    redis: str = Field(description='"ok", or the error the check raised')


class OpenApiDocument(RootModel[dict[str, Any]]):
    """The OpenAPI 3.1 document describing this API."""


# Lists

SubscriberCounts = create_model(
    "SubscriberCounts", __base__=Out, **{status.value: (int, ...) for status in SubscriberStatus}
)


LIST_TRACKING = "privacy: false and no campaign to this list tracks opens or clicks, whatever its own switches say"


class ListCreate(Body):
    name: str
    description: str = ""
    double_opt_in: bool = True
    tracking: bool = Field(True, description=LIST_TRACKING)


class ListUpdate(Body):
    name: str | None = None
    description: str | None = None
    double_opt_in: bool | None = None
    tracking: bool | None = Field(None, description=LIST_TRACKING)


class ListOut(Out):
    id: int
    public_id: str
    name: str
    description: str
    double_opt_in: bool
    tracking: bool = Field(description=LIST_TRACKING)
    created_at: Timestamp
    subscribe_url: str = Field(description="the public subscribe page")
    counts: SubscriberCounts


# Subscribers

# Any JSON object here: personalise.attributes (the service) checks names, values and size, with
# one message for each problem; the document states its rules.
Attributes = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "description": "custom attributes a campaign reads as `{{ subscriber.attributes.<name> }}`: "
            f"at most {MAX_ATTRIBUTES} names of 1 to {MAX_ATTRIBUTE_NAME} characters, each a string, number, "
            f"boolean or null (no lists or objects), {MAX_ATTRIBUTES_BYTES} bytes in all as JSON",
            "maxProperties": MAX_ATTRIBUTES,
            "propertyNames": {"minLength": 1, "maxLength": MAX_ATTRIBUTE_NAME},
            "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
        }
    ),
]


class SubscriberCreate(Body):
    email: str
    name: str = ""
    status: Literal["pending", "confirmed"] = Field("confirmed", description="`pending` sends the confirmation e-mail")
    attributes: Attributes = Field(default_factory=dict)


class SubscriberUpdate(Body):
    name: str | None = None
    status: SubscriberStatus | None = None
    attributes: Attributes | None = Field(None, description="replaces every attribute; `{}` removes them all")


class SubscriberQuery(PageQuery):
    status: SubscriberStatus | None = None


class SubscriberOut(Out):
    id: int
    list_id: int
    email: str
    name: str
    status: SubscriberStatus
    attributes: Attributes
    created_at: Timestamp
    confirmed_at: Timestamp | None
    unsubscribed_at: Timestamp | None


# Campaigns

CampaignStats = create_model(
    "CampaignStats",
    __base__=Out,
    __doc__="How many of the campaign's e-mails are in each status, and their total.",
    **{status.value: (int, ...) for status in EmailStatus},
    total=(int, ...),
)


TRACK_OPENS = "privacy: whether each e-mail carries a 1-pixel image that records opens"
TRACK_CLICKS = "privacy: whether http(s) links go through Postroom to record clicks"


class CampaignFields(Body):
    name: str | None = None
    subject: str | None = None
    from_email: str | None = None
    from_name: str | None = None
    html: str | None = None
    text: str | None = None
    body: str | None = Field(None, description="the source, instead of html and text")
    body_format: BodyFormat | None = Field(None, description="how `body` is written (default markdown)")
    track_opens: bool | None = Field(None, description=TRACK_OPENS + "; a new campaign takes its list's `tracking`")
    track_clicks: bool | None = Field(None, description=TRACK_CLICKS + "; a new campaign takes its list's `tracking`")

    @model_validator(mode="after")
    def _one_kind_of_content(self):
        given = self.model_fields_set
        if {"html", "text"} & given and {"body", "body_format"} & given:
            raise PydanticCustomError("content", "give html and/or text, or body, not both")
        return self


class CampaignCreate(CampaignFields):
    list_id: int
    subject: str
    from_email: str

    @model_validator(mode="after")
    def _some_content(self):
        if not {"html", "text", "body"} & self.model_fields_set:
            raise PydanticCustomError("content", "give html or text (or both)")
        return self


class CampaignUpdate(CampaignFields):
    list_id: int | None = None


class CampaignQuery(PageQuery):
    status: CampaignStatus | None = None


class CampaignSend(Body):
    send_at: AwareDatetime | None = Field(None, description="start then (with a UTC offset); omit to start now")


class CampaignTracking(Out):
    """What the campaign's e-mails actually carry: its own switch and its list's must both be on."""

    opens: bool
    clicks: bool


class CampaignOut(Out):
    id: int
    list_id: int
    name: str
    subject: str
    from_email: str
    from_name: str
    status: CampaignStatus
    send_at: Timestamp | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    body_format: BodyFormat
    body: str
    html: str
    text: str
    track_opens: bool = Field(description=TRACK_OPENS)
    track_clicks: bool = Field(description=TRACK_CLICKS)
    tracking: CampaignTracking
    stats: CampaignStats


# The send log


class EmailQuery(PageQuery):
    campaign_id: int | None = None
    status: EmailStatus | None = None
    recipient: str | None = None


class AttemptOut(Out):
    number: int
    started_at: Timestamp
    provider: str
    host: str
    smtp_code: int | None
    enhanced_code: str | None
    response: str
    outcome: Outcome
    duration_ms: int


class EventOut(Out):
    type: str
    at: Timestamp
    detail: str


class EmailOut(Out):
    id: int
    recipient: str
    campaign_id: int | None
    subscriber_id: int | None
    kind: EmailKind
    status: EmailStatus
    reason: str | None
    message_id: str
    attempt_count: int
    created_at: Timestamp
    updated_at: Timestamp
    sent_at: Timestamp | None


class EmailDetail(EmailOut):
    """One e-mail with its delivery attempts and its timeline."""

    attempts: list[AttemptOut]
    events: list[EventOut]


# Providers and delivery status

BreakerStateName = Literal["closed", "open", "half_open", "unknown"]


class ProviderCreate(Body):
    name: str
    smtp_url: str = Field(description="`smtp://user:password@host:port?security=none|starttls|tls`")
    priority: int = Field(0, description="lower is tried first")
    weight: int = Field(1, description="share of the mail among providers of the same priority; 0 is a standby")
    max_per_second: float | None = Field(None, description="messages a second; null for no limit")
    daily_cap: int | None = Field(None, description="messages a UTC day; null for no limit")
    warmup: list[int] | str | None = Field(
        None, description='daily caps for the first days, from today: `[50, 100, 200]` or `"50,100,200"`'
    )
    enabled: bool = True


class ProviderUpdate(Body):
    name: str | None = None
    smtp_url: str | None = Field(None, description="leave out to keep the current URL and password")
    priority: int | None = None
    weight: int | None = None
    max_per_second: float | None = Field(None, description="null removes the limit")
    daily_cap: int | None = Field(None, description="null removes the cap")
    warmup: list[int] | str | None = Field(None, description="a new schedule (starts today if none ran), or null")
    enabled: bool | None = None
    restart_warmup: bool = Field(False, description="start the warm-up schedule again from today")


class WarmupOut(Out):
    """Where a provider is in its warm-up schedule."""

    day: int = Field(description="today's day of the schedule, from 1")
    days: int
    cap: int = Field(description="today's cap")


class ProviderOut(Out):
    id: int
    name: str
    smtp_url: str = Field(description="the URL with its password shown as `***`")
    priority: int
    weight: int
    max_per_second: float | None
    daily_cap: int | None
    warmup: list[int] | None
    warmup_started_at: Timestamp | None
    enabled: bool
    created_at: Timestamp
    breaker: BreakerStateName = Field(description="the provider's circuit breaker")
    sent_today: int | None = Field(description="messages sent through it this UTC day (null: unknown)")
    cap_today: int | None = Field(description="today's cap, warm-up included (null: none)")
    warmup_today: WarmupOut | None


class QueueOut(Out):
    name: str
    queued: int
    started: int
    failed: int


class WorkerOut(Out):
    name: str
    state: str
    queues: list[str]
    current_job: str | None = Field(description="the function the worker is running, if any")


class BreakerOut(Out):
    name: str
    kind: Literal["domain", "provider"]
    target: str = Field(description="the recipient domain, or the provider id (`default` for the instance's)")
    label: str = Field(description="the recipient domain, or the provider's name")
    state: BreakerStateName
    failures: int = Field(description="failures within the breaker's window")
    opened_at: Timestamp | None
    retry_at: Timestamp | None = Field(description="when an open breaker lets one probe through")


class BucketOut(Out):
    name: str = Field(description="`domain:<domain>` or `provider:<id>`")
    rate: float = Field(description="tokens (messages) a second")
    burst: int
    tokens: float


class ProviderStatusOut(Out):
    id: int | None = Field(description="null for the instance's default provider")
    name: str
    enabled: bool
    breaker: BreakerStateName
    sent_today: int | None
    cap_today: int | None
    warmup_today: WarmupOut | None


class FailureOut(AttemptOut):
    email_id: int
    recipient: str


class StatusOut(Out):
    """Delivery as your account sees it: shared queues and workers, your providers, the breakers
    and rate limits of the domains you have mail for, and your latest failed attempts."""

    redis: str = Field(description='"ok", or why Redis could not be read (the lists are then empty)')
    queues: list[QueueOut]
    workers: list[WorkerOut]
    breakers: list[BreakerOut]
    buckets: list[BucketOut]
    providers: list[ProviderStatusOut]
    domain_limits: dict[str, float] = Field(description="configured messages a second per domain; `*` for others")
    recent_failures: list[FailureOut]
