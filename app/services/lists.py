"""Mailing lists, always scoped to one account: another account's list is NotFound."""

from __future__ import annotations

import secrets

import sqlalchemy as sa

from app.extensions import db
from app.models import Campaign, MailingList, SentEmail, Subscriber, SubscriberStatus
from app.services import validation
from app.services.errors import Conflict, NotFound
from app.services.scope import owned


def query(account_id: int) -> sa.Select:
    return sa.select(MailingList).where(MailingList.account_id == account_id).order_by(MailingList.id.desc())


def get(account_id: int, list_id: int) -> MailingList:
    return owned(MailingList, account_id, list_id, "list")


def get_public(public_id: str) -> MailingList:
    mailing_list = db.session.scalar(sa.select(MailingList).where(MailingList.public_id == public_id))
    if mailing_list is None:
        raise NotFound("this subscription page does not exist")
    return mailing_list


def _fields(name: str | None, description: str | None) -> dict:
    return {
        "name": validation.plain_text(name, "name", required=True, max_length=200),
        "description": validation.plain_text(description, "description", required=False, max_length=2000),
    }


def create(
    account_id: int, name: str, description: str = "", double_opt_in: bool = True, tracking: bool = True
) -> MailingList:
    mailing_list = MailingList(
        account_id=account_id,
        public_id=secrets.token_urlsafe(12),
        double_opt_in=bool(double_opt_in),
        tracking=bool(tracking),
        **_fields(name, description),
    )
    db.session.add(mailing_list)
    db.session.commit()
    return mailing_list


def update(account_id: int, list_id: int, **changes) -> MailingList:
    mailing_list = get(account_id, list_id)
    fields = _fields(changes.get("name", mailing_list.name), changes.get("description", mailing_list.description))
    for key, value in fields.items():
        setattr(mailing_list, key, value)
    if changes.get("double_opt_in") is not None:
        mailing_list.double_opt_in = bool(changes["double_opt_in"])
    if changes.get("tracking") is not None:
        mailing_list.tracking = bool(changes["tracking"])
    db.session.commit()
    return mailing_list


def delete(account_id: int, list_id: int) -> None:
    """Delete a list that no campaign has used; its subscribers go with it."""
    mailing_list = get(account_id, list_id)
    if db.session.scalar(sa.select(Campaign.id).where(Campaign.list_id == list_id).limit(1)):
        raise Conflict("this list has campaigns; it cannot be deleted")
    subscriber_ids = sa.select(Subscriber.id).where(Subscriber.list_id == list_id)
    if db.session.scalar(sa.select(SentEmail.id).where(SentEmail.subscriber_id.in_(subscriber_ids)).limit(1)):
        raise Conflict("this list's subscribers have e-mails in the send log; it cannot be deleted")
    db.session.execute(sa.delete(Subscriber).where(Subscriber.list_id == list_id))
    db.session.delete(mailing_list)
    db.session.commit()


def counts(list_id: int) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(Subscriber.status, sa.func.count()).where(Subscriber.list_id == list_id).group_by(Subscriber.status)
    )
    result = {status.value: 0 for status in SubscriberStatus}
    for status, count in rows:
        result[SubscriberStatus(status).value] = count
    return result
