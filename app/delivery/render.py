"""Build the bytes of one e-mail: campaign bodies, confirmation mails, and their headers.

Every header value passes ``check_header_value``; every built message is re-parsed by
``assert_headers`` so nothing a user typed can add a header or a recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

import html2text
from markdown_it import MarkdownIt

from app.delivery.headers import assert_headers, check_header_value

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
