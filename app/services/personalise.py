"""Personalised campaigns at the edges: custom attributes, body conversion, checks and previews.

``check`` is the rule "a campaign whose template does not render is never sent": saving a
draft and sending it (dashboard and API) both call it. It compiles the subject and the body as
the author wrote them (so an error names the author's line), renders them for a sample
subscriber with no attributes and for the list's first confirmed subscriber, then builds the
message as the engine will (CSS inlined, unsubscribe link) once. ``render`` gives what one
recipient would receive, for the live preview and test sends.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from app.delivery import personalise
from app.delivery.headers import HeaderInjectionError
from app.delivery.personalise import Attributes, Recipient, TemplateProblem
from app.delivery.render import CompiledMessage, Content, html_to_text, markdown_to_html, with_unsubscribe
from app.extensions import db
from app.models import BodyFormat, MailingList, Subscriber, SubscriberStatus
from app.services import validation
from app.services.errors import ValidationFailed

MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_NAME = 64
MAX_ATTRIBUTES_BYTES = 8192
SAMPLE = Recipient("Ada Lovelace", "ada@example.com", Attributes())
PREVIEW_UNSUBSCRIBE_PATH = "/u/preview"  # an invalid token: the page says so and changes nothing


def attributes(value: Any, field: str = "attributes") -> dict[str, str | int | float | bool | None]:
    """A subscriber's custom attributes, checked: a flat JSON object, bounded, no control characters.

    For whoever sets them (API, dashboard, imports): names are 1 to 64 characters; values are
    strings, numbers, booleans or null (a template reads ``subscriber.attributes.<name>``).
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(f"{field} must be a JSON object of names to values", field)
    if len(value) > MAX_ATTRIBUTES:
        raise ValidationFailed(f"{field} has more than {MAX_ATTRIBUTES} names", field)
    for name, item in value.items():
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_ATTRIBUTE_NAME:
            raise ValidationFailed(f"{field} names must be 1 to {MAX_ATTRIBUTE_NAME} characters", field)
        if not name.isprintable():
            raise ValidationFailed(f"{field} names must not contain control characters", field)
        if isinstance(item, float) and not math.isfinite(item):
            raise ValidationFailed(f"{field}.{name} must be a finite number", f"{field}.{name}")
        if item is not None and not isinstance(item, str | int | float | bool):
            raise ValidationFailed(
                f"{field}.{name} must be a string, number, boolean or null, not a list or object", f"{field}.{name}"
            )
        if isinstance(item, str) and any(not ch.isprintable() and ch not in "\t\n\r" for ch in item):
            raise ValidationFailed(f"{field}.{name} must not contain control characters", f"{field}.{name}")
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    if size > MAX_ATTRIBUTES_BYTES:
        raise ValidationFailed(f"{field} is {size} bytes as JSON; the limit is {MAX_ATTRIBUTES_BYTES}", field)
    return dict(value)


def body_parts(body: str, body_format: BodyFormat) -> tuple[str, str]:
    """The HTML and text parts of a body, its template tags carried through untouched."""
    shield = personalise.Shield(body)
    html = markdown_to_html(shield.text) if body_format == BodyFormat.MARKDOWN else shield.text
    return _restore(shield, html, "body"), _restore(shield, html_to_text(html), "body")


def text_part(html: str) -> str:
    """The plain-text part generated from HTML, its template tags carried through untouched."""
    shield = personalise.Shield(html)
    return _restore(shield, html_to_text(shield.text), "html")


def _restore(shield: personalise.Shield, converted: str, field: str) -> str:
    try:
        return shield.restore(converted, field)
    except TemplateProblem as exc:
        raise ValidationFailed(str(exc), field) from None


@dataclass(frozen=True)
class Draft:
    """What a campaign says, as saved or as typed in the editor."""

    subject: str
    from_email: str
    from_name: str
    html: str
    text: str
    # The author's source and its field ("body" from the dashboard; "" when given as html/text).
    body: str = ""


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def draft_of(campaign) -> Draft:
    """A saved campaign as a draft; its body counts as the source only when it is not one of the parts
    (a Markdown body; an HTML body or an API caller's parts are checked as the parts themselves)."""
    source = campaign.body if campaign.body not in (campaign.html, campaign.text) else ""
    return Draft(campaign.subject, campaign.from_email, campaign.from_name, campaign.html, campaign.text, source)


def sample(list_id: int, email: str | None = None) -> tuple[Recipient, str | None]:
    """Whom a preview or test is rendered for: the subscriber ``email`` on the list, else the list's
    first confirmed subscriber, else a made-up one; and that subscriber's address (None if made up)."""
    stmt = sa.select(Subscriber.email, Subscriber.name, Subscriber.attributes).where(Subscriber.list_id == list_id)
    row = None
    if email is not None:
        row = db.session.execute(stmt.where(Subscriber.email == email)).first()
    if row is None:
        confirmed = stmt.where(Subscriber.status == SubscriberStatus.CONFIRMED).order_by(Subscriber.id).limit(1)
        row = db.session.execute(confirmed).first()
    if row is None:
        return SAMPLE, None
    return Recipient(row.name or "", row.email, Attributes(row.attributes or {})), row.email


def render(draft: Draft, list_name: str, recipient: Recipient) -> Rendered:
    """What ``recipient`` would receive (without tracking); TemplateProblem or HeaderInjectionError."""
    url = current_app.config["BASE_URL"] + PREVIEW_UNSUBSCRIBE_PATH
    content = Content(draft.subject, draft.from_email, draft.from_name, draft.html, draft.text)
    compiled = CompiledMessage(content, None, list_name)
    if compiled.personal is None:
        html, text = with_unsubscribe(compiled.content.html, compiled.content.text, url)
        return Rendered(draft.subject, html, text)
    subject, html, text = compiled.personal.fill(recipient, url)
    if compiled.personal_subject:
        compiled.subject_header(subject)  # the header checks each recipient's subject goes through
    return Rendered(subject, html, text)


def check(draft: Draft, mailing_list: MailingList) -> None:
    """Raise ValidationFailed (on the field at fault, with the line) unless the campaign renders."""
    sources = [("subject", draft.subject)]
    sources += [("body", draft.body)] if draft.body else [("html", draft.html), ("text", draft.text)]
    try:
        parts = [personalise.compile(source, label) for label, source in sources if personalise.is_template(source)]
    except TemplateProblem as exc:
        raise ValidationFailed(str(exc), _field(exc.part, draft)) from None
    first, address = sample(mailing_list.id)
    whom = [(SAMPLE, "a sample subscriber with no attributes")] + ([(first, address)] if address else [])
    for recipient, name in whom:
        try:
            # The author's own text first, so an error names the line they wrote...
            for part in parts:
                personalise.render(part, personalise.values(recipient, mailing_list.name, "https://example.com/u/x"))
            # ...then the message as the engine builds it (CSS inlined, unsubscribe link added).
            rendered = render(draft, mailing_list.name, recipient)
        except TemplateProblem as exc:
            raise ValidationFailed(f"{exc} (rendering it for {name})", _field(exc.part, draft)) from None
        except HeaderInjectionError as exc:
            raise ValidationFailed(f"the subject, rendered for {name}, is not valid: {exc}", "subject") from None
        max_bytes = current_app.config["MAX_BODY_BYTES"]
        validation.body_text(rendered.html, _field("html", draft), max_bytes=max_bytes)
        validation.body_text(rendered.text, _field("text", draft), max_bytes=max_bytes)


def _field(part: str, draft: Draft) -> str:
    """The form or API field a problem in ``part`` belongs to."""
    if part == "subject":
        return "subject"
    return "body" if draft.body else part
