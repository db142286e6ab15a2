"""Transactional send: one request becomes one ``sent_emails`` row that the engine delivers.

``send`` checks and renders everything before it writes anything, then writes in one
transaction the row (kind ``transactional``, its fixed Message-ID), its content and, when the
caller gave an ``Idempotency-Key``, the key with the answer; commits; and rings the doorbell.
A recipient on the account's suppression list gets a row moved at once to ``suppressed`` with
the reason (still accepted: the send log shows why nothing went out). The engine checks the
suppression list again just before sending, and brings retries, limits, attempts and the
timeline like for campaign rows.

Idempotency: a key is scoped to the account and lives 24 hours. The same key with the same
payload (SHA-256 of its canonical JSON) answers the first answer again and writes nothing;
with another payload it is a Conflict. Two requests racing with one key meet on the unique
``(account_id, key)``: the loser waits for the winner's commit and answers its answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app.delivery import suppression
from app.delivery.ledger import transition
from app.delivery.render import html_to_text, new_message_id
from app.extensions import db
from app.jobs import queue
from app.models import (
    EmailKind,
    EmailStatus,
    IdempotencyKey,
    SentEmail,
    Suppression,
    TransactionalAttachment,
    TransactionalEmail,
)
from app.models.base import utcnow
from app.services import templates, validation
from app.services.errors import Conflict, NotFound, ValidationFailed

KEY_HEADER = "Idempotency-Key"
KEY_LIFETIME = timedelta(hours=24)
MAX_KEY = 255
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # TRANSACTIONAL_MAX_BYTES: attachments and bodies together
MAX_ATTACHMENTS = 20
MAX_FILENAME = 255
MAX_TAGS = 10
MAX_TAG = 64
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 64
MAX_METADATA_BYTES = 4096

_KEY = re.compile(r"[\x20-\x7e]+")
# RFC 2045 tokens for type and subtype, with no parameters.
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_CONTAINERS = ("multipart", "message")  # would let an attachment redefine the message's structure

Present = Callable[[SentEmail, TransactionalEmail], dict]


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Message:
    """A checked and rendered request: everything the content row will hold."""

    to: str
    to_name: str
    from_email: str
    from_name: str
    subject: str
    html: str
    text: str
    template_id: int | None
    attachments: tuple[Attachment, ...]
    tags: tuple[str, ...]
    metadata: dict[str, str]


@dataclass(frozen=True)
class Answer:
    """What to answer: the status and the body (of this request, or the key's first one)."""

    status: int
    body: dict


def send(account_id: int, data: dict, present: Present, idempotency_key: str | None = None) -> Answer:
    """Accept one e-mail (see the module docstring); ``present`` turns the new row into the answer body."""
    key = _key(idempotency_key)
    digest = _digest(data) if key is not None else ""
    if key is not None:
        first = _first_answer(account_id, key, digest)
        if first is not None:
            return first
    message = _prepare(account_id, data)
    now = utcnow()
    blocked = _suppressed(account_id, message.to, now)
    try:
        record = _claim_key(account_id, key, digest, now) if key is not None else None
        email = _write(account_id, message, now)
        if blocked:
            reason = f"address is on the suppression list ({blocked})"
            transition(
                db.session,
                [email.id],
                EmailStatus.SUPPRESSED,
                "suppressed",
                detail=reason,
                values={"reason": reason},
                now=now,
            )
            db.session.expire(email)  # the transition wrote around the ORM
        body = present(email, db.session.get(TransactionalEmail, email.id))
        if record is not None:
            record.email_id, record.response_status, record.response_body = email.id, 202, json.dumps(body)
        email_id = email.id
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if key is None:
            raise
        # Another request with this key committed first (we waited on its lock): answer its answer.
        first = _first_answer(account_id, key, digest)
        if first is None:
            raise Conflict(f"a request with this {KEY_HEADER} is in progress; try again", KEY_HEADER) from None
        return first
    if not blocked:
        queue.deliver_emails([email_id])
    return Answer(202, body)


def _key(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValidationFailed(f"{KEY_HEADER} must not be empty", KEY_HEADER)
    if len(value) > MAX_KEY:
        raise ValidationFailed(f"{KEY_HEADER} is longer than {MAX_KEY} characters", KEY_HEADER)
    if not _KEY.fullmatch(value):
        raise ValidationFailed(f"{KEY_HEADER} must be printable ASCII", KEY_HEADER)
    return value


def _digest(data: dict) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _live_key(account_id: int, key: str) -> sa.Select:
    return sa.select(IdempotencyKey).where(
        IdempotencyKey.account_id == account_id,
        IdempotencyKey.key == key,
        IdempotencyKey.created_at > utcnow() - KEY_LIFETIME,
    )


def _first_answer(account_id: int, key: str, digest: str) -> Answer | None:
    """The stored answer for this key, None when the key is unused (or expired), Conflict on another payload."""
    record = db.session.scalar(_live_key(account_id, key))
    if record is None:
        return None
    if record.request_hash != digest:
        raise Conflict(
            f"this {KEY_HEADER} was used for a different request in the last 24 hours; use a new key for a new e-mail",
            KEY_HEADER,
        )
    return Answer(record.response_status, json.loads(record.response_body))


def _claim_key(account_id: int, key: str, digest: str, now: datetime) -> IdempotencyKey:
    """Insert the key (not committed); IntegrityError when a concurrent request holds it."""
    # An expired key not yet pruned is free again: drop it so the unique key does not refuse this one.
    db.session.execute(
        sa.delete(IdempotencyKey).where(
            IdempotencyKey.account_id == account_id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at <= now - KEY_LIFETIME,
        )
    )
    record = IdempotencyKey(account_id=account_id, key=key, request_hash=digest, response_body="", created_at=now)
    db.session.add(record)
    db.session.flush()
    return record


def _suppressed(account_id: int, recipient: str, now: datetime) -> str | None:
    """The reason the address is on the account's suppression list, or None."""
    reason = db.session.scalar(
        sa.select(Suppression.reason).where(
            Suppression.account_id == account_id, Suppression.email == recipient, suppression.active(now)
        )
    )
    return reason.value if reason is not None else None


def _write(account_id: int, message: Message, now: datetime) -> SentEmail:
    domain = message.from_email.rpartition("@")[2]
    email = SentEmail(
        account_id=account_id,
        recipient=message.to,
        kind=EmailKind.TRANSACTIONAL,
        status=EmailStatus.QUEUED,
        message_id=new_message_id(domain),
        attempt_count=0,
        created_at=now,
        updated_at=now,
    )
    db.session.add(email)
    db.session.flush()
    db.session.add(
        TransactionalEmail(
            email_id=email.id,
            template_id=message.template_id,
            subject=message.subject,
            from_email=message.from_email,
            from_name=message.from_name,
            to_name=message.to_name,
            html=message.html,
            text=message.text,
            tags=list(message.tags),
            meta=message.metadata,
        )
    )
    db.session.add_all(
        TransactionalAttachment(
            email_id=email.id, position=i, filename=a.filename, content_type=a.content_type, content=a.content
        )
        for i, a in enumerate(message.attachments)
    )
    db.session.flush()
    return email


def _prepare(account_id: int, data: dict) -> Message:
    """Check every field and render the template; raise ValidationFailed naming the first bad field."""
    max_body = current_app.config["MAX_BODY_BYTES"]
    to = validation.email_address(data.get("to"), "to")
    to_name = validation.header_text(data.get("to_name"), "to_name", required=False, max_length=validation.MAX_NAME)
    from_email = validation.email_address(data.get("from_email"), "from_email")
    from_name = validation.header_text(
        data.get("from_name"), "from_name", required=False, max_length=validation.MAX_NAME
    )
    template_id, variables = data.get("template_id"), data.get("variables") or {}
    subject = data.get("subject")
    if template_id is not None:
        if data.get("html") is not None or data.get("text") is not None:
            raise ValidationFailed("give html and/or text, or a template_id, not both", "template_id")
        try:
            template = templates.get(account_id, template_id)
        except NotFound:
            raise ValidationFailed(
                f"template_id {template_id} does not name one of your templates", "template_id"
            ) from None
        rendered = templates.render(template, variables)
        # A subject in the request replaces the template's.
        subject = subject if subject is not None and subject.strip() else rendered.subject
        if not subject.strip():
            raise ValidationFailed("subject is required: the template has none", "subject")
        # Variables may carry anything: the rendered parts obey the same rules as given ones.
        html = validation.body_text(rendered.html, "html", max_bytes=max_body)
        text = validation.body_text(rendered.text, "text", max_bytes=max_body)
        if not html.strip() and not text.strip():
            raise ValidationFailed("the template rendered an empty e-mail with these variables", "variables")
    else:
        if variables:
            raise ValidationFailed("variables are only used with a template_id", "variables")
        html = validation.body_text(data.get("html"), "html", max_bytes=max_body)
        text = validation.body_text(data.get("text"), "text", max_bytes=max_body)
        if not html.strip() and not text.strip():
            raise ValidationFailed("give html or text (or both), or a template_id", "html")
    subject = validation.header_text(subject, "subject", required=True, max_length=validation.MAX_SUBJECT)
    if not text.strip():
        text = html_to_text(html)
    attachments = _attachments(data.get("attachments") or [])
    limit = _max_bytes()
    size = sum(len(a.content) for a in attachments) + len(html.encode("utf-8")) + len(text.encode("utf-8"))
    if size > limit:
        raise ValidationFailed(
            f"the e-mail is {size} bytes with its attachments; the limit is {limit} bytes", "attachments"
        )
    return Message(
        to=to,
        to_name=to_name,
        from_email=from_email,
        from_name=from_name,
        subject=subject,
        html=html,
        text=text,
        template_id=template_id,
        attachments=attachments,
        tags=_tags(data.get("tags") or []),
        metadata=_metadata(data.get("metadata") or {}),
    )


def _max_bytes() -> int:
    return current_app.config.get("TRANSACTIONAL_MAX_BYTES", DEFAULT_MAX_BYTES)


def _attachments(items: list[dict[str, Any]]) -> tuple[Attachment, ...]:
    if len(items) > MAX_ATTACHMENTS:
        raise ValidationFailed(f"at most {MAX_ATTACHMENTS} attachments", "attachments")
    return tuple(_attachment(item, f"attachments.{i}", _max_bytes()) for i, item in enumerate(items))


def _attachment(item: dict[str, Any], at: str, limit: int) -> Attachment:
    filename = validation.header_text(item.get("filename"), f"{at}.filename", required=True, max_length=MAX_FILENAME)
    if any(ch in filename for ch in '/\\"') or filename.strip(".") == "":
        raise ValidationFailed(f'{at}.filename must be a plain file name (no /, \\ or ")', f"{at}.filename")
    raw = item.get("content")
    if not isinstance(raw, str):
        raise ValidationFailed(f"{at}.content must be a base64 string", f"{at}.content")
    if len(raw) // 4 * 3 > limit:
        raise ValidationFailed(f"{at}.content is larger than the {limit} bytes limit", f"{at}.content")
    try:
        content = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed(f"{at}.content is not valid base64: {exc}", f"{at}.content") from None
    if base64.b64encode(content).decode("ascii") != raw:
        raise ValidationFailed(f"{at}.content must be standard padded base64 with no line breaks", f"{at}.content")
    content_type = (item.get("content_type") or "").strip().lower()
    if not content_type:
        content_type = mimetypes.guess_type(filename, strict=False)[0] or "application/octet-stream"
    if not _CONTENT_TYPE.fullmatch(content_type) or content_type.partition("/")[0] in _CONTAINERS:
        raise ValidationFailed(
            f"{at}.content_type must be a type/subtype such as application/pdf, with no parameters, "
            "and not multipart or message",
            f"{at}.content_type",
        )
    return Attachment(filename, content_type, content)


def _tags(items: list[str]) -> tuple[str, ...]:
    if len(items) > MAX_TAGS:
        raise ValidationFailed(f"at most {MAX_TAGS} tags", "tags")
    tags = [validation.header_text(tag, f"tags.{i}", required=True, max_length=MAX_TAG) for i, tag in enumerate(items)]
    return tuple(dict.fromkeys(tags))


def _metadata(values: dict[str, str]) -> dict[str, str]:
    if len(values) > MAX_METADATA_KEYS:
        raise ValidationFailed(f"metadata has more than {MAX_METADATA_KEYS} keys", "metadata")
    for key, value in values.items():
        if not isinstance(value, str):
            raise ValidationFailed(f"metadata.{key} must be a string", f"metadata.{key}")
        if not key.strip() or len(key) > MAX_METADATA_KEY:
            raise ValidationFailed(f"metadata keys must be 1 to {MAX_METADATA_KEY} characters", "metadata")
        if "\x00" in key or "\x00" in value:
            raise ValidationFailed("metadata must not contain NUL characters", f"metadata.{key}")
    size = len(json.dumps(values, ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise ValidationFailed(f"metadata is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}", "metadata")
    return dict(values)


def forget_expired_keys(now: datetime | None = None) -> int:
    """Delete idempotency keys older than 24 hours (run by the maintenance sweep); commit."""
    cutoff = (now or utcnow()) - KEY_LIFETIME
    removed = db.session.execute(sa.delete(IdempotencyKey).where(IdempotencyKey.created_at <= cutoff)).rowcount
    db.session.commit()
    return removed
