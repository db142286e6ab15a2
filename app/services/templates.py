"""Saved e-mail templates: CRUD, and rendering them with variables in a sandboxed Jinja.

Templates are account data written by users, so they run in Jinja's immutable sandbox (no
attribute tricks, no mutation of the variables) with ``StrictUndefined``: a variable the
request did not give is a ValidationFailed naming it, never an empty string in a sent e-mail.
The HTML part is autoescaped; the subject and the text part are not (they are not HTML). Each
rendered part is cut off at ``MAX_BODY_BYTES`` while it is produced, so a loop cannot grow it
without bound; ``**`` and repeating a string or list with ``*`` are bounded too, and ``lipsum``
is gone. (A filter given a huge width can still allocate: templates belong to the account that
writes them, so this is about accidents, not a hostile tenant's last word.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import EmailTemplate, TransactionalEmail
from app.models.base import utcnow
from app.services import validation
from app.services.errors import Conflict, ValidationFailed
from app.services.scope import owned

PARTS = ("subject", "html", "text")
MAX_NAME = 200

MAX_REPEAT = 100_000  # items or characters a template's ``*`` may produce
MAX_EXPONENT = 64


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with the two arithmetic operators that can exhaust memory bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponents above {MAX_EXPONENT} are not allowed")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    if len(sequence) * count > MAX_REPEAT:
                        raise SecurityError(f"repeating makes more than {MAX_REPEAT} items")
        return super().call_binop(context, operator, left, right)


def _sandbox(autoescape: bool) -> _Sandbox:
    environment = _Sandbox(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True)
    del environment.globals["lipsum"]  # generates any amount of text in one call
    return environment


_environments = {autoescape: _sandbox(autoescape) for autoescape in (True, False)}


def _environment(part: str) -> _Sandbox:
    return _environments[part == "html"]


@dataclass(frozen=True)
class Rendered:
    """A template's three parts with the variables filled in (empty when the template has none)."""

    subject: str
    html: str
    text: str


def query(account_id: int) -> sa.Select:
    return sa.select(EmailTemplate).where(EmailTemplate.account_id == account_id).order_by(EmailTemplate.id.desc())


def get(account_id: int, template_id: int) -> EmailTemplate:
    return owned(EmailTemplate, account_id, template_id, "template")


def _check_syntax(source: str, part: str) -> None:
    try:
        _environment(part).parse(source)
    except TemplateSyntaxError as exc:
        raise ValidationFailed(f"{part} has a template error on line {exc.lineno}: {exc.message}", part) from None


def _apply(account_id: int, template: EmailTemplate, data: dict) -> None:
    """Validate ``data`` and copy it onto ``template``; nothing is changed on any error."""
    merged = {key: data[key] if key in data else getattr(template, key) for key in ("name", *PARTS)}
    max_bytes = current_app.config["MAX_BODY_BYTES"]
    name = validation.plain_text(merged["name"], "name", required=True, max_length=MAX_NAME)
    subject = validation.header_text(merged["subject"], "subject", required=False, max_length=validation.MAX_SUBJECT)
    html = validation.body_text(merged["html"], "html", max_bytes=max_bytes)
    text = validation.body_text(merged["text"], "text", max_bytes=max_bytes)
    if not html.strip() and not text.strip():
        raise ValidationFailed("give html or text (or both)", "html")
    for part, source in (("subject", subject), ("html", html), ("text", text)):
        _check_syntax(source, part)
    taken = db.session.scalar(
        sa.select(EmailTemplate.id).where(
            EmailTemplate.account_id == account_id, EmailTemplate.name == name, EmailTemplate.id != template.id
        )
    )
    if taken is not None:
        raise Conflict(f"a template named {name!r} already exists", "name")
    template.name, template.subject, template.html, template.text = name, subject, html, text
    template.updated_at = utcnow()


def _commit(name: str) -> None:
    try:
        db.session.commit()
    except IntegrityError:
        # Two saves raced for one name: the unique key decided.
        db.session.rollback()
        raise Conflict(f"a template named {name!r} already exists", "name") from None


def create(account_id: int, data: dict) -> EmailTemplate:
    template = EmailTemplate(account_id=account_id, name="", subject="", html="", text="", created_at=utcnow())
    _apply(account_id, template, data)
    db.session.add(template)
    _commit(template.name)
    return template


def update(account_id: int, template_id: int, data: dict) -> EmailTemplate:
    template = get(account_id, template_id)
    _apply(account_id, template, data)
    _commit(template.name)
    return template


def delete(account_id: int, template_id: int) -> None:
    """Delete a template; e-mails sent from it keep their content (it was copied when sent)."""
    template = get(account_id, template_id)
    db.session.execute(
        sa.update(TransactionalEmail).where(TransactionalEmail.template_id == template.id).values(template_id=None)
    )
    db.session.delete(template)
    db.session.commit()


def variables(template: EmailTemplate) -> list[str]:
    """The names the template's parts use and a send must give, sorted."""
    names: set[str] = set()
    for part in PARTS:
        source = getattr(template, part) or ""
        try:
            names |= meta.find_undeclared_variables(_environment(part).parse(source))
        except TemplateSyntaxError:
            continue  # saved templates always parse; this only guards older rows
    return sorted(names)


def render(template: EmailTemplate, values: dict[str, Any]) -> Rendered:
    """Fill in ``values``; raise ValidationFailed (field ``variables``) when one is missing or fails."""
    max_bytes = current_app.config["MAX_BODY_BYTES"]
    return Rendered(*(_render_part(getattr(template, part) or "", part, values, max_bytes) for part in PARTS))


def _render_part(source: str, part: str, values: dict[str, Any], max_bytes: int) -> str:
    if not source:
        return ""
    try:
        compiled = _environment(part).from_string(source)
        chunks, size = [], 0
        for chunk in compiled.generate(values):
            size += len(chunk.encode("utf-8"))
            if size > max_bytes:
                raise ValidationFailed(
                    f"the template's {part}, rendered, is larger than {max_bytes} bytes", "variables"
                )
            chunks.append(chunk)
    except UndefinedError as exc:
        raise ValidationFailed(
            f"a variable the template's {part} uses is missing: {exc.message}", "variables"
        ) from None
    except SecurityError as exc:
        raise ValidationFailed(f"the template's {part} tried something not allowed: {exc}", "variables") from None
    except TemplateSyntaxError as exc:
        raise ValidationFailed(
            f"the template's {part} has an error on line {exc.lineno}: {exc.message}", part
        ) from None
    except ValidationFailed:
        raise
    except Exception as exc:
        # The template is user code: whatever it raises (a bad filter argument, a division by
        # zero) is a fault in the request or the template, answered as such, not a server error.
        raise ValidationFailed(
            f"the template's {part} failed to render: {type(exc).__name__}: {exc}", "variables"
        ) from None
    return "".join(chunks)
