"""The audience: subscribers across an account's lists, one person's data, and erasing it.

``search`` finds subscribers by address or name, with status and list filters, as a keyset
statement. ``emails_to`` is every e-mail an address was sent, newest first. ``lookup`` is the
support search box: a Message-ID (with or without ``<>``) finds one e-mail, an address finds
its subscribers and e-mails. ``export`` gathers everything the account holds about an address
(GDPR article 15). ``erase`` removes it (article 17).

Erasing keeps the ledger true without the person in it: the rows of ``sent_emails``, their
attempts, events, opens and clicks stay, so every campaign's counts stay right, but the
recipient becomes ``erased@erased.invalid``, the link to the subscriber is cut, the address is
cut out of server replies and event details, transactional content and tracking details
(user agent, network) are blanked, and the subscriber rows, suppressions and import traces of
the address are deleted. Its suppression is deleted too: keeping the address to block it would
be keeping it. What remains is a tombstone, an HMAC of the account and the address under
``SECRET_KEY`` (app/models/audience.py): it cannot be read back, but ``add`` refuses the same
address afterwards, so an old CSV file or a stale CRM sync cannot bring the person back. They
can come back themselves, through a list's public subscribe page. Rotating ``SECRET_KEY``
forgets the tombstones.

Both are written to the audit log in their own transaction (``subscriber_exported``,
``subscriber_erased``), with the user who asked when given. The erasure's event names no
address, and the erasure cuts the address out of the account's earlier audit events (an export,
a lifted suppression): the events stay, who did what and when, without the person.

Raises NotFound for another account's list, ValidationFailed for bad filters, and Conflict
when erasing while an e-mail to the address is being handed to a mail server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from urllib.parse import quote

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from app.delivery import ledger
from app.extensions import db
from app.models import (
    Campaign,
    DeliveryAttempt,
    EmailClick,
    EmailEvent,
    EmailOpen,
    EmailStatus,
    ErasedAddress,
    IdempotencyKey,
    ImportAddress,
    ImportRowError,
    SentEmail,
    Subscriber,
    SubscriberImport,
    SubscriberStatus,
    Suppression,
    TrackedLink,
    TransactionalAttachment,
    TransactionalEmail,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)
from app.models.audit import AuditEvent
from app.models.base import utcnow
from app.services import audit, lists, validation
from app.services.errors import Conflict, ValidationFailed

PAGE_SIZE = 50
MAX_QUERY = 254
ERASED = "erased@erased.invalid"  # .invalid (RFC 2606) is never delivered, and no subscriber can have it
CHUNK = 500  # ids per IN (...): far below every database's limit on bound parameters
# Columns that are our machinery, not data about the person.
INTERNAL = frozenset({"account_id", "lease_token", "lease_expires_at", "confirm_nonce", "secret_hash"})
IN_FLIGHT = (EmailStatus.QUEUED, EmailStatus.DEFERRED)


# Finding people


def search(
    account_id: int,
    q: str | None = None,
    status: str | None = None,
    list_id: int | None = None,
    before_id: int | None = None,
) -> sa.Select:
    """The account's subscribers, newest first, matching every filter given.

    ``q`` is a whole address (matched exactly, from the index) or part of an address or name.
    """
    stmt = sa.select(Subscriber).where(Subscriber.account_id == account_id)
    if list_id is not None:
        stmt = stmt.where(Subscriber.list_id == lists.get(account_id, list_id).id)
    if status:
        stmt = stmt.where(Subscriber.status == _status(status))
    term = (q or "").strip().lower()[:MAX_QUERY]
    if term:
        address = _address(term)
        if address:
            stmt = stmt.where(Subscriber.email == address)
        else:
            stmt = stmt.where(
                sa.or_(
                    Subscriber.email.contains(term, autoescape=True),
                    sa.func.lower(Subscriber.name).contains(term, autoescape=True),
                )
            )
    if before_id is not None:
        stmt = stmt.where(Subscriber.id < before_id)
    return stmt.order_by(Subscriber.id.desc())


def _status(value: str) -> SubscriberStatus:
    try:
        return SubscriberStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in SubscriberStatus)
        raise ValidationFailed(f"unknown status {value!r}; use one of {allowed}", "status") from None


def _address(text: str) -> str | None:
    """The normalised address when ``text`` is one whole address, else None."""
    if "@" not in text or any(ch.isspace() for ch in text):
        return None
    try:
        return validation.email_address(text)
    except ValidationFailed:
        return None


def memberships(account_id: int, address: str) -> list[Subscriber]:
    """Every subscriber row of this address in the account, one per list, oldest first."""
    stmt = (
        sa.select(Subscriber)
        .where(Subscriber.account_id == account_id, Subscriber.email == address)
        .options(selectinload(Subscriber.mailing_list))
        .order_by(Subscriber.id)
    )
    return list(db.session.scalars(stmt))


def emails_to(account_id: int, address: str, before_id: int | None = None) -> sa.Select:
    """Every e-mail sent to ``address`` (any kind), newest first, with attempts and events."""
    stmt = sa.select(SentEmail).where(SentEmail.account_id == account_id, SentEmail.recipient == address)
    if before_id is not None:
        stmt = stmt.where(SentEmail.id < before_id)
    return stmt.options(selectinload(SentEmail.attempts), selectinload(SentEmail.stored_events)).order_by(
        SentEmail.id.desc()
    )


def suppression_of(account_id: int, address: str) -> Suppression | None:
    return db.session.scalar(
        sa.select(Suppression).where(Suppression.account_id == account_id, Suppression.email == address)
    )


def campaign_names(account_id: int, campaign_ids: Iterable[int | None]) -> dict[int, str]:
    ids = {i for i in campaign_ids if i is not None}
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Campaign.id, Campaign.name, Campaign.subject).where(
            Campaign.account_id == account_id, Campaign.id.in_(ids)
        )
    )
    return {row.id: row.name or row.subject for row in rows}


@dataclass(frozen=True)
class Found:
    """What the support search box found: one e-mail, or an address's subscribers and e-mails."""

    email: SentEmail | None = None
    address: str | None = None
    subscribers: tuple[Subscriber, ...] = ()
    emails: tuple[SentEmail, ...] = ()
    more_emails: bool = False


def lookup(account_id: int, text: str) -> Found | None:
    """A Message-ID (``<id@host>``, ``id@host`` or a pasted ``Message-ID:`` header) or an address.

    A bare ``id@host`` is tried as a Message-ID first: an address never equals one of ours.
    None when nothing in the account matches.
    """
    text = (text or "").strip()[:998]
    candidate = _message_id(text)
    if candidate:
        email = db.session.scalar(
            sa.select(SentEmail).where(SentEmail.account_id == account_id, SentEmail.message_id == candidate)
        )
        if email is not None:
            return Found(email=email)
    if text.startswith("<") or text.lower().startswith("message-id:"):
        return None
    address = _address(text.lower())
    if address is None:
        return None
    emails = list(db.session.scalars(emails_to(account_id, address).limit(PAGE_SIZE + 1)))
    subscribers = memberships(account_id, address)
    if not emails and not subscribers:
        return None
    return Found(
        address=address,
        subscribers=tuple(subscribers),
        emails=tuple(emails[:PAGE_SIZE]),
        more_emails=len(emails) > PAGE_SIZE,
    )


def _message_id(text: str) -> str | None:
    value = re.sub(r"^message-id:\s*", "", text, flags=re.IGNORECASE).strip()
    inner = value.removeprefix("<").removesuffix(">").strip()
    if "@" not in inner or any(ch.isspace() or ch in "<>" for ch in inner) or len(inner) > 250:
        return None
    return f"<{inner}>"


# GDPR export


def export(account_id: int, address: str, *, user=None) -> dict:
    """Everything the account holds about ``address``, as one JSON-ready document.

    Records the export in the audit log (committed): personal data left the system.
    """
    address = validation.email_address(address)
    subscribers = memberships(account_id, address)
    subscriber_ids = [s.id for s in subscribers]
    emails = list(
        db.session.scalars(
            sa.select(SentEmail)
            .where(_about(account_id, address, subscriber_ids))
            .options(selectinload(SentEmail.attempts), selectinload(SentEmail.stored_events))
            .order_by(SentEmail.id)
        )
    )
    names = campaign_names(account_id, (e.campaign_id for e in emails))
    document = {
        "address": address,
        "exported_at": _value(utcnow()),
        "subscribers": [_row(s) | {"list": s.mailing_list.name} for s in subscribers],
        "emails": [_email_document(e, names) for e in emails],
        "suppressions": [_row(s) for s in _suppressions(account_id, address)],
        "webhook_events": [
            {"id": e.public_id, "type": e.type, "created_at": _value(e.created_at), "payload": json.loads(e.payload)}
            for e in _webhook_events(account_id, address)
        ],
    }
    audit.record(
        "subscriber_exported",
        account_id=account_id,
        user=user,
        target=address,
        detail={"subscriptions": len(subscribers), "emails": len(emails)},
    )
    db.session.commit()
    return document


def _about(account_id: int, address: str, subscriber_ids: list[int]) -> sa.ColumnElement[bool]:
    """The account's e-mails to ``address``, or to one of its subscriber rows."""
    about = SentEmail.recipient == address
    if subscriber_ids:
        about = sa.or_(about, SentEmail.subscriber_id.in_(subscriber_ids))
    return sa.and_(SentEmail.account_id == account_id, about)


def _email_document(email: SentEmail, names: dict[int, str]) -> dict:
    document = _row(email) | {
        "campaign": names.get(email.campaign_id) if email.campaign_id else None,
        "attempts": [_row(a, skip={"email_id"}) for a in email.attempts],
        "events": [_row(e, skip={"email_id"}) for e in email.stored_events],
        "opens": [_row(o, skip={"email_id"}) for o in _rows(EmailOpen, EmailOpen.email_id == email.id)],
        "clicks": [
            _row(click, skip={"email_id"}) | {"url": url}
            for click, url in db.session.execute(
                sa.select(EmailClick, TrackedLink.url)
                .join(TrackedLink, TrackedLink.id == EmailClick.link_id)
                .where(EmailClick.email_id == email.id)
                .order_by(EmailClick.id)
            ).tuples()
        ],
    }
    content = db.session.get(TransactionalEmail, email.id)
    if content is not None:
        document["content"] = _row(content, skip={"email_id"}) | {
            "attachments": [_row(a, skip={"email_id"}) for a in content.attachments]
        }
    return document


def _rows(model, *where) -> list:
    return list(db.session.scalars(sa.select(model).where(*where).order_by(model.id)))


def _suppressions(account_id: int, address: str) -> list[Suppression]:
    return _rows(Suppression, Suppression.account_id == account_id, Suppression.email == address)


def _webhook_events(account_id: int, address: str) -> list[WebhookEvent]:
    # No index finds an address inside a payload: a scan of the account's events, for a rare request.
    return _rows(
        WebhookEvent,
        WebhookEvent.account_id == account_id,
        sa.func.lower(WebhookEvent.payload).contains(address, autoescape=True),
    )


def _row(obj, skip: Iterable[str] = ()) -> dict:
    """A model row as JSON values, every column but our machinery (new columns come along by themselves)."""
    hidden = INTERNAL | set(skip)
    return {
        attr.key: _value(getattr(obj, attr.key))
        for attr in sa.inspect(type(obj)).column_attrs
        if attr.key not in hidden
    }


def _value(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


# Erasure


@dataclass(frozen=True)
class Erasure:
    """What ``erase`` did, in numbers (never the address)."""

    subscribers: int
    emails: int
    cancelled: int
    suppressions: int


def erase(account_id: int, address: str, *, user=None) -> Erasure:
    """Remove ``address``'s personal data from the account, in one transaction (see the module doc)."""
    address = validation.email_address(address)
    subscriber_ids = [s.id for s in memberships(account_id, address)]
    email_ids = list(db.session.scalars(sa.select(SentEmail.id).where(_about(account_id, address, subscriber_ids))))
    events = _webhook_events(account_id, address)
    # Cancel what has not left yet, then check nothing is leaving right now: a sender that claimed
    # a row first would write the server's reply, address and all, after we scrubbed it.
    cancelled = ledger.transition(
        db.session,
        email_ids,
        EmailStatus.CANCELLED,
        "cancelled",
        detail="the recipient's data was erased",
        from_statuses=IN_FLIGHT,
    )
    if _any(SentEmail.id, email_ids, SentEmail.status == EmailStatus.SENDING):
        db.session.rollback()
        raise Conflict("an e-mail to this address is being handed to a mail server right now; try again in a minute")
    scrub = _scrubber(address)
    for chunk in _chunks(email_ids):
        _erase_emails(chunk, scrub)
    for event in events:
        _erase_event(event, scrub)
    _erase_webhook_replies(account_id, address, scrub)
    removed = db.session.execute(
        sa.delete(Suppression).where(Suppression.account_id == account_id, Suppression.email == address)
    ).rowcount
    _erase_import_traces(account_id, address, scrub)
    for chunk in _chunks(subscriber_ids):
        db.session.execute(sa.delete(Subscriber).where(Subscriber.id.in_(chunk)))
    _remember(account_id, address)
    done = Erasure(len(subscriber_ids), len(email_ids), len(cancelled), removed)
    _erase_audit_trail(account_id, address, scrub)
    audit.record(
        "subscriber_erased",
        account_id=account_id,
        user=user,
        target=ERASED,
        detail={
            "subscriptions": done.subscribers,
            "emails": done.emails,
            "cancelled": done.cancelled,
            "suppressions": done.suppressions,
        },
    )
    db.session.commit()
    return done


def _erase_emails(ids: list[int], scrub) -> None:
    db.session.execute(
        sa.update(SentEmail).where(SentEmail.id.in_(ids)).values(recipient=ERASED, subscriber_id=None),
        execution_options={"synchronize_session": False},
    )
    _scrub_column(SentEmail, SentEmail.reason, SentEmail.id.in_(ids), scrub)
    _scrub_column(DeliveryAttempt, DeliveryAttempt.response, DeliveryAttempt.email_id.in_(ids), scrub)
    _scrub_column(EmailEvent, EmailEvent.detail, EmailEvent.email_id.in_(ids), scrub)
    for key in db.session.scalars(sa.select(IdempotencyKey).where(IdempotencyKey.email_id.in_(ids))):
        key.response_body = _erase_answer(key.response_body, scrub)
    for model in (EmailOpen, EmailClick):
        db.session.execute(sa.update(model).where(model.email_id.in_(ids)).values(user_agent="", ip_prefix=""))
    db.session.execute(sa.delete(TransactionalAttachment).where(TransactionalAttachment.email_id.in_(ids)))
    db.session.execute(
        sa.update(TransactionalEmail)
        .where(TransactionalEmail.email_id.in_(ids))
        .values(subject="", to_name="", html="", text="", tags=[], meta={})
    )


def _erase_answer(body: str, scrub) -> str:
    """A stored API answer (replayed for a repeated Idempotency-Key) without the person in it."""
    try:
        answer = json.loads(body)
    except ValueError:
        return scrub(body)
    answer = _scrub_json(answer, scrub)
    if isinstance(answer, dict):
        blank = {"subject": "", "to_name": "", "html": "", "text": "", "tags": [], "metadata": {}}
        answer |= {key: value for key, value in blank.items() if key in answer}
    return json.dumps(answer)


def _erase_event(event: WebhookEvent, scrub) -> None:
    event.payload = json.dumps(_scrub_json(json.loads(event.payload), scrub), separators=(",", ":"))


def _erase_webhook_replies(account_id: int, address: str, scrub) -> None:
    """What the account's endpoints answered: any reply may echo the address, whatever the event."""
    mine = WebhookDelivery.account_id == account_id
    _scrub_column(WebhookDelivery, WebhookDelivery.last_error, mine, scrub, address)
    attempts = WebhookAttempt.delivery_id.in_(sa.select(WebhookDelivery.id).where(mine))
    _scrub_column(WebhookAttempt, WebhookAttempt.response_excerpt, attempts, scrub, address)
    _scrub_column(WebhookAttempt, WebhookAttempt.error, attempts, scrub, address)


def _scrub_json(node, scrub):
    """``node`` with the address cut out of every string; beside it, a ``name`` is blanked too."""
    if isinstance(node, dict):
        cleaned = {key: _scrub_json(value, scrub) for key, value in node.items()}
        if any(isinstance(v, str) and scrub(v) != v for v in node.values()):
            cleaned |= {key: "" for key in ("name", "to_name") if key in cleaned}
        return cleaned
    if isinstance(node, list):
        return [_scrub_json(value, scrub) for value in node]
    return scrub(node) if isinstance(node, str) else node


def _erase_audit_trail(account_id: int, address: str, scrub) -> None:
    """The account's audit events keep who did what and when, not the person it was done to."""
    mine = AuditEvent.account_id == account_id
    _scrub_column(AuditEvent, AuditEvent.target, mine, scrub, address)
    in_detail = sa.func.lower(sa.cast(AuditEvent.detail, sa.Text)).contains(address, autoescape=True)
    for event in db.session.scalars(sa.select(AuditEvent).where(mine, in_detail)):
        event.detail = _scrub_json(event.detail, scrub)


def _erase_import_traces(account_id: int, address: str, scrub) -> None:
    imports = sa.select(SubscriberImport.id).where(SubscriberImport.account_id == account_id)
    db.session.execute(
        sa.delete(ImportAddress).where(ImportAddress.import_id.in_(imports), ImportAddress.email == address)
    )
    # Rejected rows are raw CSV text: the address appears as written, if at all.
    _scrub_column(ImportRowError, ImportRowError.value, ImportRowError.import_id.in_(imports), scrub, address)


def _scrub_column(model, column, where, scrub, prefilter: str | None = None) -> None:
    """Cut the address out of ``column`` in the rows matching ``where``.

    ``prefilter`` (text the column must contain) lets the database skip most rows of a large set.
    """
    key = sa.inspect(model).primary_key[0]
    stmt = sa.select(key, column).where(where, column.is_not(None), column != "")
    if prefilter:
        stmt = stmt.where(sa.func.lower(column).contains(prefilter, autoescape=True))
    for row_id, text in db.session.execute(stmt).all():
        cleaned = scrub(text)
        if cleaned != text:
            db.session.execute(sa.update(model).where(key == row_id).values({column.key: cleaned}))


def _scrubber(address: str):
    """A function replacing the address (as written, or percent-encoded in a URL) by the marker."""
    pattern = re.compile("|".join(re.escape(form) for form in {address, quote(address, safe="")}), re.IGNORECASE)

    def scrub(text: str | None) -> str | None:
        return pattern.sub(ERASED, text) if text else text

    return scrub


def _any(key, ids: list[int], *where) -> bool:
    return any(
        db.session.scalar(sa.select(key).where(key.in_(chunk), *where).limit(1)) is not None for chunk in _chunks(ids)
    )


def _chunks(ids: list) -> Iterator[list]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


# Tombstones


def _digest(account_id: int, address: str) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key if isinstance(key, bytes) else key.encode()
    return hmac.new(key, f"{account_id}:{address}".encode(), hashlib.sha256).hexdigest()


def _remember(account_id: int, address: str) -> None:
    digest = _digest(account_id, address)
    exists = sa.select(ErasedAddress.id).where(ErasedAddress.account_id == account_id, ErasedAddress.digest == digest)
    if db.session.scalar(exists) is None:
        db.session.add(ErasedAddress(account_id=account_id, digest=digest))


def is_erased(account_id: int, address: str) -> bool:
    """Whether ``address`` (normalised) was erased from the account at its owner's request."""
    return erased_among(account_id, [address]) != set()


def erased_among(account_id: int, addresses: Iterable[str]) -> set[str]:
    """The normalised ``addresses`` that were erased from the account: for adding many at once."""
    by_digest = {_digest(account_id, a): a for a in addresses}
    found: set[str] = set()
    for chunk in _chunks(list(by_digest)):
        found |= set(
            db.session.scalars(
                sa.select(ErasedAddress.digest).where(
                    ErasedAddress.account_id == account_id, ErasedAddress.digest.in_(chunk)
                )
            )
        )
    return {by_digest[d] for d in found}


def list_names(account_id: int) -> list[tuple[int, str]]:
    """The account's lists as (id, name), for the list filter."""
    return [(m.id, m.name) for m in db.session.scalars(lists.query(account_id))]
