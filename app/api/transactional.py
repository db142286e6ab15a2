"""API v1: transactional send (``POST /emails``) and saved templates (``/templates``).

The request models check shape only; ``app.services.transactional`` and
``app.services.templates`` own every content rule (addresses, header values, base64, sizes).
"""

from __future__ import annotations

from typing import Any

from flask import request
from pydantic import Field

from app.api import paging
from app.api.auth import account_id
from app.api.openapi import Header, api_route
from app.api.schemas import Body, EmailDetail, Out, Page, PageQuery, Timestamp
from app.models import EmailTemplate, SentEmail, TransactionalEmail
from app.services import templates, transactional

IDEMPOTENCY_KEY = Header(
    transactional.KEY_HEADER,
    "Any unique string (a UUID): a retry with the same key and the same body within 24 hours answers "
    "the first answer and sends nothing; the same key with another body answers 409.",
    max_length=transactional.MAX_KEY,
)


class AttachmentIn(Body):
    filename: str = Field(description='shown to the recipient; no `/`, `\\` or `"`')
    content: str = Field(description="the file, base64 (standard alphabet, padded, no line breaks)")
    content_type: str | None = Field(None, description="e.g. `application/pdf`; guessed from the file name if left out")


class EmailSend(Body):
    """One e-mail: html and/or text, or a saved template filled in with ``variables``."""

    to: str
    to_name: str = ""
    from_email: str
    from_name: str = ""
    subject: str | None = Field(None, description="required unless the template has one; replaces the template's")
    html: str | None = None
    text: str | None = Field(None, description="generated from `html` when left out")
    template_id: int | None = Field(None, description="one of your templates, instead of html and text")
    variables: dict[str, Any] = Field(default_factory=dict, description="the template's variables")
    attachments: list[AttachmentIn] = Field(
        default_factory=list, description="at most 20; with the bodies at most 10 MB (decoded)"
    )
    tags: list[str] = Field(default_factory=list, description="at most 10 short labels")
    metadata: dict[str, str] = Field(default_factory=dict, description="your own keys and string values, up to 4 KB")


class TransactionalEmailOut(EmailDetail):
    """The e-mail as ``GET /emails/{id}`` shows it, with what the request said about it."""

    subject: str
    tags: list[str]
    metadata: dict[str, str]


class TemplateCreate(Body):
    name: str
    subject: str = Field("", description="Jinja; a send may give its own subject instead")
    html: str = Field("", description="Jinja, autoescaped")
    text: str = Field("", description="Jinja; generated from the HTML when empty")


class TemplateUpdate(Body):
    name: str | None = None
    subject: str | None = None
    html: str | None = None
    text: str | None = None


class TemplateOut(Out):
    id: int
    name: str
    subject: str
    html: str
    text: str
    variables: list[str] = Field(description="the variable names the template uses")
    created_at: Timestamp
    updated_at: Timestamp


def _present(email: SentEmail, content: TransactionalEmail) -> dict:
    detail = EmailDetail.model_validate(email).model_dump(mode="json")
    return detail | {"subject": content.subject, "tags": content.tags, "metadata": content.meta}


def _template(template: EmailTemplate) -> dict:
    out = {key: getattr(template, key) for key in ("id", "name", "subject", "html", "text", "created_at", "updated_at")}
    return out | {"variables": templates.variables(template)}


@api_route(
    "/emails",
    "POST",
    body=EmailSend,
    response=TransactionalEmailOut,
    status=202,
    errors=(409,),
    headers=(IDEMPOTENCY_KEY,),
)
def send_email(body: EmailSend):
    """Send one e-mail (optionally from a template, with attachments); it is delivered like campaign mail."""
    answer = transactional.send(
        account_id(), body.model_dump(mode="json"), _present, request.headers.get(transactional.KEY_HEADER)
    )
    return answer.body, answer.status


@api_route("/templates", query=PageQuery, response=Page[TemplateOut])
def list_templates(query: PageQuery):
    """Your e-mail templates, newest first."""
    stmt = templates.query(account_id())
    return paging.keyset(stmt, EmailTemplate, query, _template)


@api_route("/templates", "POST", body=TemplateCreate, response=TemplateOut, status=201, errors=(409,))
def create_template(body: TemplateCreate):
    """Save a template: subject, HTML and text in Jinja with `{{ variables }}`."""
    return _template(templates.create(account_id(), body.model_dump()))


@api_route("/templates/<int:template_id>", response=TemplateOut)
def get_template(template_id: int):
    """One template, with the variables it uses."""
    return _template(templates.get(account_id(), template_id))


@api_route("/templates/<int:template_id>", "PATCH", body=TemplateUpdate, response=TemplateOut, errors=(409,))
def update_template(template_id: int, body: TemplateUpdate):
    """Change a template; e-mails already sent from it keep their content."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return _template(templates.update(account_id(), template_id, changes))


@api_route("/templates/<int:template_id>", "DELETE")
def delete_template(template_id: int):
    """Delete a template; e-mails already sent from it keep their content."""
    templates.delete(account_id(), template_id)
