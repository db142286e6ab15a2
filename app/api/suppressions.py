"""API v1 suppression list: browse it, suppress an address, take an address off.

``POST`` answers 201 when the call put the address on the list (a new row, or an expired row
renewed) and 200 with the row unchanged when the address was already suppressed, so a client can
repeat the call safely. ``DELETE`` names the address itself, URL-encoded.
"""

from __future__ import annotations

from flask import g
from pydantic import AwareDatetime, Field

from app.api import paging
from app.api.auth import account_id
from app.api.openapi import api_route
from app.api.schemas import Body, Out, Page, PageQuery, Timestamp
from app.extensions import db
from app.models import Suppression, SuppressionReason
from app.services import emails, suppressions, validation
from app.services.errors import Conflict


class SuppressionCreate(Body):
    email: str = Field(json_schema_extra={"format": "email"})
    reason: SuppressionReason = Field(SuppressionReason.MANUAL, description="why the address gets no mail")
    detail: str = Field("", description="a note for your records")
    expires_at: AwareDatetime | None = Field(None, description="mail may resume then (with a UTC offset); omit: never")


class SuppressionQuery(PageQuery):
    reason: SuppressionReason | None = None
    email: str | None = Field(None, description="part of an address")


class SuppressionOut(Out):
    id: int
    email: str = Field(json_schema_extra={"format": "email"})
    reason: SuppressionReason
    detail: str
    created_at: Timestamp = Field(description="when the address was (last) suppressed")
    expires_at: Timestamp | None = Field(description="after this the row is kept but blocks nothing")


class SuppressionExisting(SuppressionOut):
    """The address was already suppressed; the row is unchanged."""


@api_route("/suppressions", query=SuppressionQuery, response=Page[SuppressionOut])
def list_suppressions(query: SuppressionQuery):
    """Your suppression list, newest first, optionally by reason or part of an address."""
    reason = query.reason.value if query.reason else None
    stmt = suppressions.query(account_id(), reason, query.email, before_id=query.cursor)
    return paging.page(*emails.page(stmt.limit(query.limit + 1), query.limit))


@api_route(
    "/suppressions",
    "POST",
    body=SuppressionCreate,
    response=SuppressionOut,
    status=201,
    also={200: SuppressionExisting},
)
def suppress_address(body: SuppressionCreate):
    """Suppress an address: no campaign mail reaches it (until `expires_at`, if given)."""
    try:
        return suppressions.add(account_id(), body.email, body.reason.value, body.detail, body.expires_at)
    except Conflict:
        address = validation.email_address(body.email)
        return db.session.scalar(suppressions.query(account_id()).where(Suppression.email == address)), 200


@api_route("/suppressions/<path:email>", "DELETE")
def unsuppress_address(email: str):
    """Take an address (URL-encoded) off the suppression list; campaigns can reach it again."""
    suppressions.remove_by_email(account_id(), email, user=g.api_user)
