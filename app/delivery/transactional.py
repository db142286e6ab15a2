"""Build the bytes of one transactional e-mail from its stored content.

The message carries the row's fixed Message-ID, From, To, Subject and Date, a text part (and
an HTML alternative when there is one), and the attachments, which make it multipart/mixed.
There is no List-Unsubscribe: the recipient asked for this mail, no list sent it. Every header
value passes ``check_header_value``, and the built message is re-parsed to prove it carries
exactly the headers and attachments we wrote.
"""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from sqlalchemy.orm import Session, selectinload

from app.delivery.headers import HeaderInjectionError, address_header, assert_headers, check_header_value
from app.models import TransactionalEmail


def message(session: Session, email_id: int, recipient: str, message_id: str, date: datetime) -> tuple[str, bytes]:
    """The envelope sender's base address and the bytes to send for this transactional row."""
    content = session.get(TransactionalEmail, email_id, options=[selectinload(TransactionalEmail.attachments)])
    if content is None:
        raise ValueError(f"transactional e-mail {email_id} has no content row")
    return content.from_email, build(content, recipient, message_id, date)


def build(content: TransactionalEmail, to: str, message_id: str, date: datetime) -> bytes:
    """The RFC 5322 bytes of ``content`` sent to ``to``; raises HeaderInjectionError on a bad value."""
    checked = [
        ("subject", content.subject),
        ("from name", content.from_name),
        ("from address", content.from_email),
        ("recipient name", content.to_name),
        ("recipient", to),
        ("message id", message_id),
    ]
    checked += [(f"attachment {a.position} filename", a.filename) for a in content.attachments]
    checked += [(f"attachment {a.position} content type", a.content_type) for a in content.attachments]
    for field, value in checked:
        check_header_value(value, field)
    msg = EmailMessage(policy=SMTP)
    # Folded by us, not by the email package, which drops a long display name's quotes (gh-80222).
    msg.set_raw("From", address_header("From", content.from_name, content.from_email))
    msg.set_raw("To", address_header("To", content.to_name, to))
    msg["Subject"] = content.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["MIME-Version"] = "1.0"
    msg.set_content(content.text, subtype="plain", charset="utf-8")
    if content.html:
        msg.add_alternative(content.html, subtype="html", charset="utf-8")
    for attachment in content.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    expected = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"]
    if not msg.is_multipart():
        expected.append("Content-Transfer-Encoding")
    data = msg.as_bytes(policy=SMTP)
    assert_headers(data, expected, {"From": content.from_email, "To": to})
    _assert_attachments(data, content)
    return data


def _assert_attachments(data: bytes, content: TransactionalEmail) -> None:
    """Raise unless the parsed message has exactly our attachments, names and types intact."""
    parsed = message_from_bytes(data, policy=SMTP)
    found = [(part.get_filename(), part.get_content_type()) for part in parsed.iter_attachments()]
    wanted = [(a.filename, a.content_type) for a in content.attachments]
    if found != wanted:
        raise HeaderInjectionError(f"built message has attachments {found}, expected {wanted}")
