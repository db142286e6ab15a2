"""The bytes of a transactional e-mail, built from stored content, refuse any header trick themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from app.delivery.headers import HeaderInjectionError
from app.delivery.transactional import build
from app.models import TransactionalAttachment, TransactionalEmail

DATE = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def _content(**overrides) -> TransactionalEmail:
    attachments = overrides.pop("attachments", [])
    fields = {
        "subject": "Your receipt",
        "from_email": "billing@shop.example",
        "from_name": "Shop",
        "to_name": "",
        "html": "",
        "text": "Thanks.\n",
    }
    content = TransactionalEmail(**(fields | overrides))
    content.attachments = [
        TransactionalAttachment(position=i, filename=name, content_type=kind, content=data)
        for i, (name, kind, data) in enumerate(attachments)
    ]
    return content


def test_a_text_only_message_has_exactly_our_headers():
    data = build(_content(), "ada@example.com", "<abc@shop.example>", DATE)

    message = message_from_bytes(data, policy=policy.SMTP)
    assert list(message.keys()) == [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    ]
    assert (message["To"], message["Date"]) == ("ada@example.com", "Tue, 24 Nov 2026 09:30:00 +0000")


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hi\r\nBcc: victim@example.org"},
        {"subject": "=?utf-8?q?Hi=0ABcc:_victim@example.org?="},
        {"from_name": "Shop\u2028Bcc: victim@example.org"},
        {"to_name": "Ada\x00"},
        {"attachments": [("a\nContent-Type: text/html", "text/plain", b"x")]},
        {"attachments": [("a.txt", "text/plain\r\nX-Evil: 1", b"x")]},
    ],
)
def test_a_bad_stored_value_is_refused_at_build_time(overrides):
    with pytest.raises(HeaderInjectionError):
        build(_content(**overrides), "ada@example.com", "<abc@shop.example>", DATE)


def test_unicode_names_are_encoded_not_trusted():
    content = _content(
        from_name="Bücherei «Ost»", to_name="Zoë", attachments=[("Übersicht 2026.csv", "text/csv", b"a,b\n")]
    )

    message = message_from_bytes(build(content, "zoe@example.com", "<m@shop.example>", DATE), policy=policy.default)

    assert message["From"] == "Bücherei «Ost» <billing@shop.example>"
    assert message["To"] == "Zoë <zoe@example.com>"
    [attachment] = message.iter_attachments()
    assert attachment.get_filename() == "Übersicht 2026.csv"
