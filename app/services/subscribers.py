"""Subscribers: adding them, the public subscribe / confirm / unsubscribe flow.

The public functions answer the same way whatever the address's state (new, pending,
confirmed, unsubscribed, suppressed), so the subscribe form reveals nothing. Confirmation
e-mails are ``sent_emails`` rows like any other, delivered by the engine after the commit.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app import links
from app.delivery.suppression import is_suppressed
from app.extensions import db
from app.jobs import queue
from app.models import (
    EmailKind,
    MailingList,
    SentEmail,
    Subscriber,
    SubscriberStatus,
)
from app.models.base import utcnow
from app.services import audience, emails, lists, personalise, validation
from app.services.errors import Conflict, ValidationFailed
from app.services.scope import owned
from app.webhooks import outbox

CONFIRM_VALID_FOR = timedelta(days=7)
# Confirmation e-mails the public form sends one address per account in any 24 hours.
CONFIRMATIONS_PER_DAY = 3
WEBHOOK_EVENT_FOR = {
    SubscriberStatus.CONFIRMED: "subscriber.confirmed",
    SubscriberStatus.UNSUBSCRIBED: "subscriber.unsubscribed",
}


def query(account_id: int, list_id: int | None = None, status: str | None = None) -> sa.Select:
    stmt = sa.select(Subscriber).where(Subscriber.account_id == account_id)
    if list_id is not None:
        stmt = stmt.where(Subscriber.list_id == list_id)
    if status:
        try:
            stmt = stmt.where(Subscriber.status == SubscriberStatus(status))
        except ValueError:
            raise ValidationFailed(f"unknown status {status!r}", "status") from None
    return stmt.order_by(Subscriber.id.desc())


def get(account_id: int, subscriber_id: int) -> Subscriber:
    return owned(Subscriber, account_id, subscriber_id, "subscriber")


def _find(list_id: int, email: str) -> Subscriber | None:
    return db.session.scalar(sa.select(Subscriber).where(Subscriber.list_id == list_id, Subscriber.email == email))


def _queue_confirmation(subscriber: Subscriber) -> SentEmail:
    """Make the subscriber pending with a fresh confirm nonce and a confirmation e-mail row (not committed)."""
    now = utcnow()
    subscriber.status = SubscriberStatus.PENDING
    subscriber.confirm_nonce = secrets.token_urlsafe(16)
    subscriber.confirm_sent_at = now
    return emails.queue_own_email(
        subscriber.account_id, subscriber.email, EmailKind.CONFIRMATION, subscriber_id=subscriber.id
    )


def add(
    account_id: int,
    list_id: int,
    email: str,
    name: str = "",
    status: str = "confirmed",
    attributes: dict | None = None,
) -> Subscriber:
    """Add a subscriber from the dashboard or API; ``pending`` sends the confirmation e-mail.

    ``attributes`` are the custom attributes campaigns personalise with (``personalise.attributes``
    checks them). Every value is checked before anything is written.
    """
    mailing_list = lists.get(account_id, list_id)
    address = validation.email_address(email)
    name = validation.header_text(name, "name", required=False, max_length=validation.MAX_NAME)
    attributes = personalise.attributes(attributes)
    try:
        wanted = SubscriberStatus(status)
    except ValueError:
        raise ValidationFailed("status must be pending or confirmed", "status") from None
    if wanted == SubscriberStatus.UNSUBSCRIBED:
        raise ValidationFailed("status must be pending or confirmed", "status")
    if _find(mailing_list.id, address):
        raise Conflict(f"{address} is already on this list", "email")
    if audience.is_erased(account_id, address):
        # The owner had their data erased: only they may come back, through the subscribe page.
        raise Conflict(f"{address} was erased at its owner's request; they can subscribe again themselves", "email")
    now = utcnow()
    subscriber = Subscriber(
        account_id=account_id,
        list_id=mailing_list.id,
        email=address,
        name=name,
        status=wanted,
        created_at=now,
        confirmed_at=now if wanted == SubscriberStatus.CONFIRMED else None,
        attributes=attributes,
    )
    db.session.add(subscriber)
    db.session.flush()
    email_row = _queue_confirmation(subscriber) if wanted == SubscriberStatus.PENDING else None
    db.session.commit()
    if email_row:
        queue.deliver_emails([email_row.id])
    return subscriber


def update(
    account_id: int,
    subscriber_id: int,
    name: str | None = None,
    status: str | None = None,
    attributes: dict | None = None,
) -> Subscriber:
    """Change what is given; ``attributes`` replaces the whole set (``{}`` clears it).

    Everything given is checked before anything changes, so a refused call changes nothing.
    """
    subscriber = get(account_id, subscriber_id)
    email_row = None
    if name is not None:
        name = validation.header_text(name, "name", required=False, max_length=validation.MAX_NAME)
    if attributes is not None:
        attributes = personalise.attributes(attributes)
    if status is not None:
        try:
            new = SubscriberStatus(status)
        except ValueError:
            raise ValidationFailed("status must be pending, confirmed or unsubscribed", "status") from None
        if subscriber.status == SubscriberStatus.UNSUBSCRIBED and new == SubscriberStatus.CONFIRMED:
            # Consent: someone who unsubscribed comes back only by confirming again.
            raise ValidationFailed(
                "an unsubscribed address cannot be confirmed by hand; set it to pending to send a new "
                "confirmation e-mail",
                "status",
            )
    if name is not None:
        subscriber.name = name
    if attributes is not None:
        subscriber.attributes = attributes
    if status is not None:
        if new == SubscriberStatus.PENDING and subscriber.status != SubscriberStatus.PENDING:
            email_row = _queue_confirmation(subscriber)
        else:
            _set_status(subscriber, new)
    db.session.commit()
    if email_row:
        queue.deliver_emails([email_row.id])
    return subscriber


def _set_status(subscriber: Subscriber, new: SubscriberStatus) -> None:
    if subscriber.status == new:
        return
    subscriber.status = new
    if new == SubscriberStatus.CONFIRMED:
        subscriber.confirmed_at = utcnow()
        subscriber.confirm_nonce = None
    elif new == SubscriberStatus.UNSUBSCRIBED:
        subscriber.unsubscribed_at = utcnow()
    if new in WEBHOOK_EVENT_FOR:
        data = {
            "subscriber_id": subscriber.id,
            "list_id": subscriber.list_id,
            "email": subscriber.email,
            "name": subscriber.name,
            "status": new.value,
        }
        outbox.emit(db.session, subscriber.account_id, WEBHOOK_EVENT_FOR[new], data)


def delete(account_id: int, subscriber_id: int) -> None:
    subscriber = get(account_id, subscriber_id)
    if db.session.scalar(sa.select(SentEmail.id).where(SentEmail.subscriber_id == subscriber.id).limit(1)):
        raise Conflict("this subscriber has e-mails in the send log; unsubscribe them instead")
    db.session.delete(subscriber)
    db.session.commit()


def subscribe(public_id: str, email: str, name: str = "") -> None:
    """The public form. Raises only for a missing list or an invalid address.

    Whatever the address's state (new, pending, confirmed, unsubscribed, suppressed, erased) the
    caller answers the same page, so nothing here may change the answer. Only a confirmation
    e-mail can make an address pending or (re)activate an unsubscribed one, and at most
    CONFIRMATIONS_PER_DAY are sent to one address per account in any 24 hours, whichever of the
    account's lists the form was for: past that the request changes nothing (no row, no nonce,
    no e-mail), so a script cannot use the form to mail-bomb someone.
    """
    mailing_list = lists.get_public(public_id)
    address = validation.email_address(email)
    name = validation.header_text(name, "name", required=False, max_length=validation.MAX_NAME)
    account_id = mailing_list.account_id
    if is_suppressed(db.session, account_id, address):
        return
    subscriber = _find(mailing_list.id, address)
    if subscriber is not None and subscriber.status == SubscriberStatus.CONFIRMED:
        return
    if subscriber is None and not mailing_list.double_opt_in:
        subscriber = _new_subscriber(mailing_list, address, name)
        if subscriber is not None:
            _set_status(subscriber, SubscriberStatus.CONFIRMED)
            db.session.commit()
        return
    if _confirmations_sent_today(account_id, address) >= CONFIRMATIONS_PER_DAY:
        return
    if subscriber is None:
        subscriber = _new_subscriber(mailing_list, address, name)
        if subscriber is None:
            return
    elif name:
        subscriber.name = name
    email_row = _queue_confirmation(subscriber)
    db.session.commit()
    queue.deliver_emails([email_row.id])


def _new_subscriber(mailing_list: MailingList, address: str, name: str) -> Subscriber | None:
    """A new (flushed, pending) subscriber; None when a simultaneous request added the address first."""
    subscriber = Subscriber(account_id=mailing_list.account_id, list_id=mailing_list.id, email=address, name=name)
    db.session.add(subscriber)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        db.session.rollback()
        return None
    return subscriber


def _confirmations_sent_today(account_id: int, address: str) -> int:
    """Confirmation e-mails written for ``address`` in the account in the last 24 hours.

    Counted from ``sent_emails`` (the truth, shared by every web process) through the
    (account_id, recipient) index; the rows it reads are that one address's e-mails. Dashboard
    and API "pending" (a signed-in marketer, audited) are not refused, but their e-mails count.
    """
    since = utcnow() - timedelta(days=1)
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(SentEmail)
        .where(
            SentEmail.account_id == account_id,
            SentEmail.recipient == address,
            SentEmail.kind == EmailKind.CONFIRMATION,
            SentEmail.created_at >= since,
        )
    )


def _from_token(token: str, check, lock: bool = False) -> Subscriber | None:
    """The subscriber a link is for when ``check`` passes, else None: one answer for every failure.

    ``lock`` holds the row until the commit (PostgreSQL), so two clicks on one confirm link at
    the same moment confirm once.
    """
    subscriber_id = links.parse_subscriber_id(token or "")
    if subscriber_id is None:
        return None
    subscriber = db.session.get(Subscriber, subscriber_id, with_for_update=True if lock else None)
    if subscriber is None or not check(subscriber):
        return None
    return subscriber


def _confirmable(token: str):
    secret = current_app.config["SECRET_KEY"]

    def valid(s: Subscriber) -> bool:
        fresh = s.confirm_sent_at is not None and utcnow() - s.confirm_sent_at < CONFIRM_VALID_FOR
        # Only a pending subscriber confirms: one unsubscribed since (by hand, or by the marketer)
        # is not brought back by an old link.
        pending = s.status == SubscriberStatus.PENDING
        return links.check_confirm(secret, token, s.id, s.list_id, s.confirm_nonce) and fresh and pending

    return valid


def pending_confirmation(token: str) -> Subscriber | None:
    """The subscriber a confirm link is for, when the link is valid, unused and unexpired."""
    return _from_token(token, _confirmable(token))


def confirm(token: str) -> Subscriber | None:
    subscriber = _from_token(token, _confirmable(token), lock=True)
    if subscriber is None:
        return None
    _set_status(subscriber, SubscriberStatus.CONFIRMED)
    subscriber.confirm_nonce = None
    db.session.commit()
    return subscriber


def _unsubscribable(token: str):
    secret = current_app.config["SECRET_KEY"]
    return lambda s: links.check_unsubscribe(secret, token, s.id, s.list_id)


def for_unsubscribe(token: str) -> Subscriber | None:
    return _from_token(token, _unsubscribable(token))


def unsubscribe(token: str) -> Subscriber | None:
    """Record the unsubscription (status and time); the subscriber row stays. Idempotent."""
    subscriber = _from_token(token, _unsubscribable(token), lock=True)
    if subscriber is None:
        return None
    _set_status(subscriber, SubscriberStatus.UNSUBSCRIBED)
    db.session.commit()
    return subscriber


def list_of(subscriber: Subscriber) -> MailingList:
    return db.session.get(MailingList, subscriber.list_id)
