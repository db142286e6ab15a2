"""Build the bytes of one e-mail: campaign bodies, confirmation mails, and their headers.

Every header value passes ``check_header_value``; every built message is re-parsed by
``assert_headers`` so nothing a user typed can add a header or a recipient.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

import html2text
from markdown_it import MarkdownIt

from app.delivery.headers import HeaderInjectionError, assert_headers, check_header_value

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
    local, _, domain = content.from_email.rpartition("@")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(display_name=content.from_name, username=local, domain=domain)
    msg["To"] = to
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
    assert_headers(data, expected)
    return data


class CompiledMessage:
    """A campaign rendered once; ``render`` fills in one recipient in microseconds.

    The campaign-wide header block (From, Subject, MIME structure) is produced once by the
    email package. Each recipient adds only To, Date, Message-ID and the List-Unsubscribe
    headers (values checked to be plain ASCII with no control characters) and the two body
    parts, base64-encoded so the unsubscribe URL can be put in before encoding. The first
    message rendered is re-parsed to prove its headers and parts are exactly what we wrote.
    """

    def __init__(self, content: Content):
        for field, value in (
            ("subject", content.subject),
            ("from name", content.from_name),
            ("from address", content.from_email),
        ):
            check_header_value(value, field)
        self.content = content
        self.boundary = "=_pr_" + secrets.token_hex(16)
        local, _, domain = content.from_email.rpartition("@")
        head = EmailMessage(policy=SMTP)
        head["From"] = Address(display_name=content.from_name, username=local, domain=domain)
        head["Subject"] = content.subject
        head["MIME-Version"] = "1.0"
        head["Content-Type"] = f'multipart/alternative; boundary="{self.boundary}"'
        self.head = head.as_bytes(policy=SMTP).split(b"\r\n\r\n", 1)[0] + b"\r\n"
        self.verified = False

    @staticmethod
    def _ascii(value: str, field: str) -> bytes:
        check_header_value(value, field)
        try:
            return value.encode("ascii")
        except UnicodeEncodeError:
            raise HeaderInjectionError(f"{field} must be plain ASCII here") from None

    def _part(self, subtype: str, text: str) -> bytes:
        encoded = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
        return (
            f'--{self.boundary}\r\nContent-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode() + encoded

    def render(self, to: str, message_id: str, date: datetime, unsubscribe_url: str) -> bytes:
        html, text = with_unsubscribe(self.content.html, self.content.text, unsubscribe_url)
        data = b"".join(
            [
                self.head,
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
                "From",
                "Subject",
                "MIME-Version",
                "Content-Type",
                "To",
                "Date",
                "Message-ID",
                "List-Unsubscribe",
                "List-Unsubscribe-Post",
            ],
        )
        parsed = message_from_bytes(data, policy=SMTP)
        parts = [(p.get_content_subtype(), p.get_content()) for p in parsed.iter_parts()]
        expected = [("plain", text)] + ([("html", html)] if html else [])
        if parts != expected:
            raise ValueError("compiled message does not round-trip through the e-mail parser")
        self.verified = True
