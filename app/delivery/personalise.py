"""Campaign personalisation: a campaign's subject and body as sandboxed Jinja templates.

A campaign may use ``subscriber.name``, ``subscriber.email``, ``subscriber.attributes.<key>``
(the subscriber's custom attributes), ``list.name`` and ``unsubscribe_url``; no other name is
defined (no globals at all: no ``range``, ``lipsum``, ``config`` or ``request``). Templates run
in the transactional templates' sandbox (app/services/templates.py: immutable, ``*`` and
``**`` bounded) with ``StrictUndefined``, so a misspelt name is an error, while a custom
attribute that one subscriber lacks renders empty (or its ``default(...)``). Comments are
``{## ... ##}``. ``compile`` rejects unknown names and fields before anything renders, naming
the line; ``render`` fills one part, refusing output past ``MAX_OUTPUT`` characters (counted as
it grows when the part loops).

A campaign is compiled once per batch (``PersonalBody``): Jinja parses each part once, and each
recipient only renders, with its subscriber read by ``Recipients`` (one query per batch).
Tracked links and the open pixel are slots in the template (a NUL character and the slot's
number, which no validated value can contain): rendered, the output is split on them and the
recipient's tracked URLs put in, so tracking costs no HTML parse per recipient. Everything
raised while rendering is a ``TemplateProblem`` with the part and line.
"""

from __future__ import annotations

import copy
import re
import secrets
import sys
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SecurityError
from sqlalchemy.orm import Session

from app.models import EmailStatus, SentEmail
from app.models import Subscriber as SubscriberRow
from app.services.templates import _Sandbox
from app.tracking.links import TrackedBody

UNSUBSCRIBE_VARIABLE = "unsubscribe_url"
# Each top-level name and the fields it has (None: a plain value).
ALLOWED: dict[str, frozenset[str] | None] = {
    "subscriber": frozenset({"name", "email", "attributes"}),
    "list": frozenset({"name"}),
    UNSUBSCRIBE_VARIABLE: None,
}
VARIABLES = ("subscriber.name", "subscriber.email", "subscriber.attributes.<key>", "list.name", "unsubscribe_url")
MAX_OUTPUT = 1024 * 1024  # characters one rendered part may have in the engine
SLOT = "\x00"  # brackets a tracked link's slot number in a template's output
# Comments are {## ... ##}: minified CSS has "{#id" (``@media (...){#main{...}}``), never "{##".
COMMENT = ("{##", "##}")
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{##.*?##\}", re.DOTALL)
_LINE_BREAKS = re.compile(r"\s*[\r\n\x0b\x0c\x85\u2028\u2029]+\s*")


class TemplateProblem(ValueError):
    """A campaign template that does not parse, names something unknown, or fails to render."""

    def __init__(self, part: str, message: str, line: int | None = None):
        where = f" on line {line}" if line else ""
        super().__init__(f"the {part} has a template error{where}: {message}")
        self.part, self.line, self.detail = part, line, message


class Attributes(dict):
    """A subscriber's custom attributes: a missing key renders empty, so one subscriber lacking it is fine."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a template sees as ``subscriber`` (and nothing else of the row)."""

    name: str
    email: str
    attributes: Attributes = field(default_factory=Attributes)


@dataclass(frozen=True, slots=True)
class ListView:
    name: str


_FIELDS = {Recipient: ALLOWED["subscriber"], ListView: ALLOWED["list"]}


class _CampaignSandbox(_Sandbox):
    """The transactional sandbox; custom attributes answer a lenient undefined when missing."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        if kind is Attributes:
            return obj[attribute] if attribute in obj else ChainableUndefined(name=attribute)
        if kind in _FIELDS and attribute in _FIELDS[kind]:
            return getattr(obj, attribute)  # our own plain fields: no need to ask the sandbox
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if type(obj) is Attributes:
            return obj[argument] if argument in obj else ChainableUndefined(name=str(argument))
        return super().getitem(obj, argument)


def _environment(autoescape: bool) -> _CampaignSandbox:
    environment = _CampaignSandbox(
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        comment_start_string=COMMENT[0],
        comment_end_string=COMMENT[1],
    )
    environment.globals.clear()
    return environment


_environments = {autoescape: _environment(autoescape) for autoescape in (True, False)}


def environment(part: str) -> _CampaignSandbox:
    """The HTML part (and a body, which becomes it) is autoescaped; the subject and text are not HTML."""
    return _environments[part in ("html", "body")]


def is_template(source: str) -> bool:
    """Whether ``source`` has any Jinja besides the literal ``{{ unsubscribe_url }}`` placeholder."""
    if "{" not in source:
        return False
    rest = source.replace("{{ " + UNSUBSCRIBE_VARIABLE + " }}", "")
    return "{{" in rest or "{%" in rest or COMMENT[0] in rest


@dataclass(frozen=True)
class Part:
    """One compiled part; ``repeats`` when it has a loop or macro, so its size is counted as it grows."""

    name: str
    template: JinjaTemplate
    repeats: bool


def compile(source: str, part: str) -> Part:  # noqa: A001 - the Jinja word for it
    """Parse and check ``source``; TemplateProblem (with the line) on a syntax error or unknown name."""
    env = environment(part)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(part, exc.message or "syntax error", exc.lineno) from None
    _check_names(tree, part)
    repeats = tree.find((nodes.For, nodes.Macro, nodes.CallBlock)) is not None
    return Part(part, env.from_string(tree), repeats)


def uses(source: str, part: str, name: str) -> bool:
    """Whether a template reads the top-level variable ``name`` (False when it does not parse)."""
    try:
        return name in meta.find_undeclared_variables(environment(part).parse(source))
    except TemplateSyntaxError:
        return False  # ``compile`` reports it


def _check_names(tree: nodes.Template, part: str) -> None:
    undeclared = meta.find_undeclared_variables(tree)
    allowed = ", ".join(VARIABLES)
    for node in tree.find_all(nodes.Name):
        if node.ctx != "load":
            continue
        if node.name == "self" or (node.name in undeclared and node.name not in ALLOWED):
            raise TemplateProblem(part, f"{node.name!r} is not a variable here; use {allowed}", node.lineno)
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        owner = node.node
        if not (isinstance(owner, nodes.Name) and owner.name in undeclared and ALLOWED.get(owner.name)):
            continue
        key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if not isinstance(key, str):
            continue  # a computed key: the render on a sample subscriber finds a bad one
        if key not in ALLOWED[owner.name]:
            fields = ", ".join(f"{owner.name}.{f}" for f in sorted(ALLOWED[owner.name]))
            raise TemplateProblem(part, f"{owner.name} has no {key!r}; it has {fields}", node.lineno)


def render(compiled: Part, values: dict, limit: int = MAX_OUTPUT) -> str:
    """The part filled with ``values``; TemplateProblem on any error, or past ``limit`` characters.

    Without a loop the output is bounded by the template and the values (``*`` is bounded by
    the sandbox), so it is joined at once and measured after; with one, it is measured as it grows.
    """
    template, part = compiled.template, compiled.name
    try:
        chunks = template.root_render_func(template.new_context(values, shared=True))
        if compiled.repeats:
            output, size = [], 0
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TemplateProblem(part, f"rendered, it is longer than {limit} characters")
                output.append(chunk)
            chunks = output
        rendered = "".join(chunks)
    except TemplateProblem:
        raise
    except SecurityError as exc:
        raise TemplateProblem(part, f"not allowed: {exc}", _template_line(template)) from None
    except Exception as exc:
        # Template code is the author's: whatever it raises (undefined name, a filter given the
        # wrong type, a division by zero) is a fault in the template, reported as such.
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        raise TemplateProblem(part, message, _template_line(template)) from None
    if len(rendered) > limit:
        raise TemplateProblem(part, f"rendered, it is longer than {limit} characters")
    return rendered


def _template_line(template: JinjaTemplate) -> int | None:
    """The template line at which the exception being handled was raised."""
    tb, line = sys.exc_info()[2], None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


def values(recipient: Recipient, list_name: str, unsubscribe_url: str) -> dict:
    """The variables of one rendering."""
    return {"subscriber": recipient, "list": ListView(list_name), UNSUBSCRIBE_VARIABLE: unsubscribe_url}


def one_line(subject: str) -> str:
    """A rendered subject on one line: a line break that came from a value becomes a space."""
    return _LINE_BREAKS.sub(" ", subject).strip()


class Shield:
    """Jinja tags swapped for markers while HTML or Markdown tools rewrite the text around them.

    Markdown, html2text and the CSS inliner would escape quotes and ``>`` inside tags, or wrap
    them across lines. ``comment`` markers (``<!--...-->``) stay put even between table rows,
    where an HTML parser moves text, and must come back in order; plain markers are words
    Markdown leaves alone, though it may reorder them (``[text](url)`` becomes href, then text).
    ``restore`` raises TemplateProblem when a tool dropped, copied or (for comments) moved one.
    """

    def __init__(self, source: str, comment: bool = False):
        nonce = secrets.token_hex(4)
        self.ordered = comment
        self.tags: list[str] = []
        self.marker = re.compile(rf"<!--prj{nonce}:(\d+)-->" if comment else rf"prj{nonce}x(\d+)y")
        template = f"<!--prj{nonce}:{{}}-->" if comment else f"prj{nonce}x{{}}y"

        def swap(match: re.Match) -> str:
            self.tags.append(match.group(0))
            return template.format(len(self.tags) - 1)

        self.text = _TAG.sub(swap, source)

    def restore(self, text: str, part: str) -> str:
        found = [int(m.group(1)) for m in self.marker.finditer(text)]
        if (found if self.ordered else sorted(found)) != list(range(len(self.tags))):
            raise TemplateProblem(
                part,
                "a template tag ended up where HTML moves text (between table rows, say); "
                "put it inside a cell or paragraph",
            )
        return self.marker.sub(lambda m: self.tags[int(m.group(1))], text)


class PersonalBody:
    """A campaign's parts compiled once; ``fill`` renders one recipient's subject, HTML and text.

    ``html`` and ``text`` already carry the unsubscribe link (or its variable); with ``tracked``
    (a ``TrackedBody`` of that HTML and text), links and the pixel are slots filled per e-mail.
    """

    def __init__(self, subject: str, html: str, text: str, list_name: str, tracked: TrackedBody | None = None):
        self.list = ListView(list_name)
        self.subject = compile(subject, "subject") if is_template(subject) else None
        self.constant_subject = subject
        self.tracked = tracked
        if tracked is not None:
            html_slots, text_slots = tracked.html_pieces[1::2], tracked.text_pieces[1::2]
            html, text = _slotted(tracked.html_pieces, 0), _slotted(tracked.text_pieces, len(html_slots))
            self._probe = _probe(tracked, html_slots + text_slots)
        self.html = compile(html, "html") if html else None
        self.text = compile(text, "text")

    def fill(self, recipient: Recipient, unsubscribe_url: str, email_id: int | None = None) -> tuple[str, str, str]:
        context = {"subscriber": recipient, "list": self.list, UNSUBSCRIBE_VARIABLE: unsubscribe_url}
        subject = self.constant_subject
        if self.subject is not None:
            subject = one_line(render(self.subject, context))
        html = render(self.html, context) if self.html is not None else ""
        text = render(self.text, context)
        if self.tracked is not None:
            if email_id is None:
                raise ValueError("a tracked message needs its e-mail id")
            urls = self._probe.fill(email_id)[0].split(SLOT)
            html, text = _unslot(html, urls, "html"), _unslot(text, urls, "text")
        return subject, html, text


def _slotted(pieces: list, first: int) -> str:
    """Tracked pieces ``[literal, position, literal, ...]`` as one template; slot ``n`` is ``NUL n NUL``."""
    out = [pieces[0]]
    for number, i in enumerate(range(1, len(pieces), 2), start=first):
        out += [f"{SLOT}{number}{SLOT}", pieces[i + 1]]
    return "".join(out)


def _probe(tracked: TrackedBody, slots: list[int]) -> TrackedBody:
    """A copy whose HTML is only its slots, so ``fill`` answers one e-mail's URLs in slot order.

    Asking the tracked body itself keeps one place that knows what a tracked URL looks like.
    """
    probe = copy.copy(tracked)
    pieces: list = [""]
    for position in slots:
        pieces += [position, SLOT]
    probe.html_pieces, probe.text_pieces = pieces[:-1] + [""], [""]
    return probe


def _unslot(rendered: str, urls: list[str], part: str) -> str:
    if SLOT not in rendered:
        return rendered
    pieces = rendered.split(SLOT)
    if len(pieces) % 2 == 0:
        raise TemplateProblem(part, "the template wrote a NUL character")
    for i in range(1, len(pieces), 2):
        try:
            pieces[i] = urls[int(pieces[i])]
        except (ValueError, IndexError):
            raise TemplateProblem(part, "the template wrote a NUL character") from None
    return "".join(pieces)


class Recipients:
    """The recipients of the rows one batch holds, read in one query when the first is needed.

    The rows a batch claimed share its lease token: one join reads all their subscribers. A row
    outside that set (a batch of another campaign, a lease taken over) is read on its own.
    """

    def __init__(self, session: Session):
        self.session = session
        self.found: dict[int, Recipient] = {}
        self.loaded: set[int] = set()

    def get(self, email_id: int, campaign_id: int, subscriber_id: int) -> Recipient:
        found = self.found.get(subscriber_id)
        if found is None:
            if campaign_id not in self.loaded:
                self.loaded.add(campaign_id)
                self._read(_leased_with(email_id, campaign_id))
            else:
                self._read(sa.select(*_COLUMNS).where(SubscriberRow.id == subscriber_id))
            found = self.found.get(subscriber_id)
        if found is None:
            raise ValueError(f"subscriber {subscriber_id} is gone")
        return found

    def _read(self, stmt: sa.Select) -> None:
        for subscriber_id, email, name, attributes in self.session.execute(stmt):
            self.found[subscriber_id] = Recipient(name or "", email, Attributes(attributes or {}))


_COLUMNS = (SubscriberRow.id, SubscriberRow.email, SubscriberRow.name, SubscriberRow.attributes)


def _leased_with(email_id: int, campaign_id: int) -> sa.Select:
    token = sa.select(SentEmail.lease_token).where(SentEmail.id == email_id).scalar_subquery()
    return (
        sa.select(*_COLUMNS)
        .join(SentEmail, SentEmail.subscriber_id == SubscriberRow.id)
        # (campaign_id, status) is indexed: the leased rows are found without a scan.
        .where(
            SentEmail.campaign_id == campaign_id,
            SentEmail.status == EmailStatus.SENDING,
            SentEmail.lease_token == token,
        )
    )
