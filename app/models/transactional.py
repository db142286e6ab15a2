"""Transactional e-mail: what one API send says, saved templates, and idempotency keys.

A transactional send is a ``sent_emails`` row (kind ``transactional``) like any other; its
content lives beside it in ``transactional_emails`` (one row, keyed by the e-mail) and
``transactional_attachments``, rendered once when the request is accepted.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow


class TransactionalEmail(db.Model):
    """The rendered content of one transactional ``sent_emails`` row."""

    __tablename__ = "transactional_emails"

    email_id: Mapped[int] = mapped_column(sa.ForeignKey("sent_emails.id"), primary_key=True)
    # Informational only: the content was rendered from it, so deleting the template changes nothing.
    template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("email_templates.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(sa.String(998))
    from_email: Mapped[str] = mapped_column(sa.String(254))
    from_name: Mapped[str] = mapped_column(sa.String(200), default="")
    to_name: Mapped[str] = mapped_column(sa.String(200), default="")
    html: Mapped[str] = mapped_column(sa.Text, default="")
    text: Mapped[str] = mapped_column(sa.Text, default="")
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # ``metadata`` is taken by SQLAlchemy's declarative base; the column keeps the API's name.
    meta: Mapped[dict[str, str]] = mapped_column("metadata", sa.JSON, default=dict)

    attachments: Mapped[list[TransactionalAttachment]] = relationship(order_by="TransactionalAttachment.position")


class TransactionalAttachment(db.Model):
    """One attachment of a transactional e-mail, decoded, in the order the request gave it."""

    __tablename__ = "transactional_attachments"

    email_id: Mapped[int] = mapped_column(sa.ForeignKey("transactional_emails.email_id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(255))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)


class EmailTemplate(db.Model):
    """A saved e-mail: subject, HTML and text written in (sandboxed) Jinja with variables."""

    __tablename__ = "email_templates"
    __table_args__ = (sa.UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    subject: Mapped[str] = mapped_column(sa.String(998), default="")
    html: Mapped[str] = mapped_column(sa.Text, default="")
    text: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyKey(db.Model):
    """The first answer to a request sent with an ``Idempotency-Key``, kept for 24 hours.

    Written in the same transaction as the e-mail it created, so a key is either unknown or
    carries its answer; the unique key makes two concurrent requests create one e-mail.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "key"),
        # The maintenance sweep deletes keys by age.
        sa.Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    key: Mapped[str] = mapped_column(sa.String(255))
    # SHA-256 of the request's canonical JSON: the same key with another payload is a conflict.
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    email_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sent_emails.id"))
    response_status: Mapped[int] = mapped_column(default=202)
    response_body: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
