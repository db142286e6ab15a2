"""Build the bytes of one e-mail: campaign bodies, confirmation mails, and their headers.

Every header value passes ``check_header_value``; every built message is re-parsed by
``assert_headers`` so nothing a user typed can add a header or a recipient.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

import css_inline
import html2text
from markdown_it import MarkdownIt

from app.delivery import personalise
from app.delivery.headers import HeaderInjectionError, address_header, assert_headers, check_header_value
from app.tracking.links import TrackedBody, Tracking

UNSUBSCRIBE_PLACEHOLDER = "{{ unsubscribe_url }}"
_markdown = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table")


def markdown_to_html(source: str) -> str:
    return _markdown.render(source)


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 78
    converter.ignore_images = True
    converter.protect_links = True
    return converter.handle(html).strip() + "\n"


# Never fetch a linked stylesheet: a campaign's HTML must not make the worker request a URL.
_inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
_STYLE = re.compile(r"<style[\s>]", re.IGNORECASE)


def inline_css(html: str) -> str:
    """``<style>`` rules copied into ``style`` attributes (Gmail and Outlook ignore style blocks).

    HTML without a ``<style>`` block is returned as it is. ``@media`` rules stay in a style
    block; template tags are shielded so the HTML parser cannot escape or move them.
    """
    if not _STYLE.search(html):
        return html
    shield = personalise.Shield(html, comment=True)
    try:
        inlined = _inliner.inline(shield.text)
    except css_inline.InlineError as exc:
        raise personalise.TemplateProblem("html", f"its CSS could not be inlined: {exc}") from None
    return shield.restore(inlined, "html")


@dataclass(frozen=True)
class Content:
    """What one e-mail says, before it becomes bytes."""

    subject: str
    from_email: str
    from_name: str
    html: str
    text: str
    unsubscribe_url: str | None = None


def with_unsubscribe(html: str, text: str, url: str) -> tuple[str, str]:
    """Put the unsubscribe link where the author placed it, or in a footer when they did not."""
    if UNSUBSCRIBE_PLACEHOLDER in html:
        html = html.replace(UNSUBSCRIBE_PLACEHOLDER, url)
    else:
        html += (
            '\n<p style="font-size:12px;color:#666;margin-top:32px">'
            f'<a href="{url}">Unsubscribe</a> from this list.</p>\n'
        )
    if UNSUBSCRIBE_PLACEHOLDER in text:
        text = text.replace(UNSUBSCRIBE_PLACEHOLDER, url)
    else:
        text = text.rstrip("\n") + f"\n\n--\nUnsubscribe: {url}\n"
    return html, text


def build_message(content: Content, to: str, message_id: str, date: datetime) -> bytes:
    """The RFC 5322 bytes for ``content`` sent to ``to``."""
    for field, value in (
        ("subject", content.subject),
        ("from name", content.from_name),
        ("from address", content.from_email),
        ("recipient", to),
        ("message id", message_id),
    ):
        check_header_value(value, field)
    msg = EmailMessage(policy=SMTP)
    # Written by us, not folded by the email package, which drops a long name's quotes (gh-80222).
    msg.set_raw("From", address_header("From", content.from_name, content.from_email))
    msg.set_raw("To", address_header("To", "", to))
    msg["Subject"] = content.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    expected = ["From", "To", "Subject", "Date", "Message-ID"]
    if content.unsubscribe_url:
        check_header_value(content.unsubscribe_url, "unsubscribe URL")
        msg["List-Unsubscribe"] = f"<{content.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        expected += ["List-Unsubscribe", "List-Unsubscribe-Post"]
    msg["MIME-Version"] = "1.0"
    msg.set_content(content.text, subtype="plain", charset="utf-8")
    if content.html:
        msg.add_alternative(content.html, subtype="html", charset="utf-8")
    expected += ["MIME-Version", "Content-Type"]
    if not content.html:
        expected.append("Content-Transfer-Encoding")
    data = msg.as_bytes(policy=SMTP)
    assert_headers(data, expected, {"From": content.from_email, "To": to})
    return data


class CompiledMessage:
    """A campaign rendered once; ``render`` fills in one recipient in microseconds.

    The campaign-wide header block (From, Subject, MIME structure) is produced once by the
    email package. Each recipient adds only To, Date, Message-ID and the List-Unsubscribe
    headers (values checked to be plain ASCII with no control characters) and the two body
    parts, base64-encoded so the unsubscribe URL can be put in before encoding. The first
    message rendered is re-parsed to prove its headers and parts are exactly what we wrote.
    With ``tracking``, links are rewritten and the pixel added by a ``TrackedBody`` parsed here,
    once; each recipient then only signs its own tokens (``render`` needs its ``email_id``).
    CSS in ``<style>`` blocks is inlined here. A campaign using template variables is compiled
    into a ``PersonalBody`` (Jinja parses each part once); each recipient then renders it with
    its ``subscriber``, and a personal subject becomes its own header, checked per recipient.
    Without any template tag the campaign takes the plain path, as fast as before.
    """

    def __init__(self, content: Content, tracking: Tracking | None = None, list_name: str = ""):
        for field, value in (
            ("subject", content.subject),
            ("from name", content.from_name),
            ("from address", content.from_email),
        ):
            check_header_value(value, field)
        self.content = content = replace(content, html=inline_css(content.html))
        self.personal = None
        if any(personalise.is_template(part) for part in (content.subject, content.html, content.text)):
            self.personal = _personal_body(content, tracking, list_name)
        self.tracked = TrackedBody(content.html, content.text, tracking) if tracking and not self.personal else None
        self.boundary = "=_pr_" + secrets.token_hex(16)
        head = EmailMessage(policy=SMTP)
        head.set_raw("From", address_header("From", content.from_name, content.from_email))  # gh-80222
        self.personal_subject = self.personal is not None and self.personal.subject is not None
        if not self.personal_subject:
            head["Subject"] = content.subject
        head["MIME-Version"] = "1.0"
        head["Content-Type"] = f'multipart/alternative; boundary="{self.boundary}"'
        self.head = head.as_bytes(policy=SMTP).split(b"\r\n\r\n", 1)[0] + b"\r\n"
        self.head_names = [name for name in head.keys()] + (["Subject"] if self.personal_subject else [])
        self.verified = False

    @staticmethod
    def _ascii(value: str, field: str) -> bytes:
        check_header_value(value, field)
        try:
            return value.encode("ascii")
        except UnicodeEncodeError:
            raise HeaderInjectionError(f"{field} must be plain ASCII here") from None

    def subject_header(self, title: str) -> bytes:
        """One recipient's Subject header; the email package encodes what is not short plain ASCII."""
        check_header_value(title, "subject")
        if title.isascii() and len(title) <= 69:
            return b"Subject: " + title.encode("ascii") + b"\r\n"
        return SMTP.header_factory("Subject", title).fold(policy=SMTP).encode("ascii")

    def _part(self, subtype: str, text: str) -> bytes:
        encoded = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
        return (
            f'--{self.boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode() + encoded

    def render(
        self,
        to: str,
        message_id: str,
        date: datetime,
        unsubscribe_url: str,
        email_id: int | None = None,
        recipient: personalise.Recipient | None = None,
    ) -> bytes:
        subject = b""
        if self.personal is not None:
            if recipient is None:
                raise ValueError("a personalised message needs its recipient")
            title, html, text = self.personal.fill(recipient, unsubscribe_url, email_id)
            if self.personal_subject:
                subject = self.subject_header(title)
        elif self.tracked is None:
            html, text = with_unsubscribe(self.content.html, self.content.text, unsubscribe_url)
        elif email_id is None:
            raise ValueError("a tracked message needs its e-mail id")
        else:
            html, text = with_unsubscribe(*self.tracked.fill(email_id), unsubscribe_url)
        data = b"".join(
            [
                self.head,
                subject,
                b"To: " + self._ascii(to, "recipient") + b"\r\n",
                b"Date: " + format_datetime(date).encode() + b"\r\n",
                b"Message-ID: " + self._ascii(message_id, "message id") + b"\r\n",
                b"List-Unsubscribe: <" + self._ascii(unsubscribe_url, "unsubscribe URL") + b">\r\n",
                b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
                b"\r\n",
                self._part("plain", text),
                self._part("html", html) if html else b"",
                f"--{self.boundary}--\r\n".encode(),
            ]
        )
        if not self.verified:
            self._verify(data, html, text)
        return data

    def _verify(self, data: bytes, html: str, text: str) -> None:
        assert_headers(
            data,
            [
                *self.head_names,
                "To",
                "Date",
                "Message-ID",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
            ],
            {"From": self.content.from_email},
        )
        parsed = message_from_bytes(data, policy=SMTP)
        parts = [(p.get_content_subtype(), p.get_content()) for p in parsed.iter_parts()]
        expected = [("plain", text)] + ([("html", html)] if html else [])
        if parts != expected:
            raise ValueError("compiled message does not round-trip through the e-mail parser")
        self.verified = True


def _personal_body(content: Content, tracking: Tracking | None, list_name: str) -> personalise.PersonalBody:
    """The campaign as templates, its unsubscribe link put in unless the author placed the variable."""
    html, text = content.html, content.text
    variable = "{{ " + personalise.UNSUBSCRIBE_VARIABLE + " }}"
    if not personalise.uses(html, "html", personalise.UNSUBSCRIBE_VARIABLE):
        html = with_unsubscribe(html, "", variable)[0]
    if not personalise.uses(text, "text", personalise.UNSUBSCRIBE_VARIABLE):
        text = with_unsubscribe("", text, variable)[1]
    tracked = None
    if tracking is not None:
        # A link built from variables differs per recipient: it stays as written, untracked.
        links = {url: n for url, n in tracking.links.items() if not personalise.is_template(url)}
        tracked = TrackedBody(html, text, replace(tracking, links=links))
    return personalise.PersonalBody(content.subject, html, text, list_name, tracked)


def new_message_id(domain: str) -> str:
    """A fresh Message-ID for a single e-mail (confirmation, transactional): 128 random bits."""
    return f"<{secrets.token_hex(16)}@{domain}>"
