"""Built messages carry exactly the headers we wrote, whatever the user typed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.delivery.headers import HeaderInjectionError, check_header_value
from app.delivery.render import Content, build_message, markdown_to_html, with_unsubscribe

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ATTACKS = [
    "Hi\r\nBcc: victim@example.com",
    "Hi\nBcc: victim@example.com",
    "Hi\rBcc: victim@example.com",
    "Hi\x00there",
    "Hi\u2028Bcc: victim@example.com",
    "Hi\x85Bcc: victim@example.com",
    # CVE-2024-6923: a newline hidden in an RFC 2047 encoded word.
    "=?utf-8?q?Hi=0ABcc=3A_victim=40example=2Ecom?=",
    "=?utf-8?b?SGkKQmNjOiB2aWN0aW1AZXhhbXBsZS5jb20=?=",
    "Caf\u00e9 =?utf-8?q?x=0D=0AX-Evil=3A_1?=",
]


@pytest.mark.parametrize("value", ATTACKS)
def test_check_header_value_refuses_line_breaks(value):
    with pytest.raises(HeaderInjectionError):
        check_header_value(value)


@pytest.mark.parametrize("value", ["Hello", "Caf\u00e9 \u2615 news", "Tab\tis fine", "=?utf-8?q?caf=C3=A9?="])
def test_check_header_value_accepts_ordinary_text(value):
    assert check_header_value(value) == value


@pytest.mark.parametrize("field", ["subject", "from_name"])
@pytest.mark.parametrize("value", ATTACKS)
def test_build_message_never_emits_an_injected_header(field, value):
    fields = {
        "subject": "Hello",
        "from_name": "News",
        "from_email": "news@example.com",
        "html": "<p>x</p>",
        "text": "x",
    }
    fields[field] = value
    with pytest.raises(HeaderInjectionError):
        build_message(Content(**fields), "to@example.com", "<id@example.com>", NOW)


def test_message_headers_and_parts():
    content = Content("Hello \u2603", "news@example.com", 'Ann "The" News', "<p>Hi</p>", "Hi", "http://x/u/1.abc")
    raw = build_message(content, "to@example.com", "<abc@example.com>", NOW)
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "Hello \u2603"
    assert message["From"].addresses[0].display_name == 'Ann "The" News'
    assert message["List-Unsubscribe"] == "<http://x/u/1.abc>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == "<abc@example.com>"
    assert message.get_body(("plain",)).get_content().strip() == "Hi"
    assert "<p>Hi</p>" in message.get_body(("html",)).get_content()


def test_unsubscribe_link_goes_where_the_author_put_it_or_in_a_footer():
    html, text = with_unsubscribe(
        "<a href='{{ unsubscribe_url }}'>leave</a>", "Leave: {{ unsubscribe_url }}", "http://u"
    )
    assert html == "<a href='http://u'>leave</a>" and text == "Leave: http://u"
    html, text = with_unsubscribe("<p>x</p>", "x", "http://u")
    assert 'href="http://u"' in html and text.endswith("Unsubscribe: http://u\n")


def test_markdown_renders():
    assert "<strong>bold</strong>" in markdown_to_html("**bold**")


@pytest.mark.parametrize("field", ["subject", "from_name"])
@pytest.mark.parametrize("value", ATTACKS)
def test_compiled_message_refuses_injected_headers(field, value):
    from app.delivery.render import CompiledMessage

    fields = {
        "subject": "Hello",
        "from_name": "News",
        "from_email": "news@example.com",
        "html": "<p>x</p>",
        "text": "x",
    }
    fields[field] = value
    with pytest.raises(HeaderInjectionError):
        CompiledMessage(Content(**fields))


@pytest.mark.parametrize(
    "to,message_id,url",
    [
        ("a@example.com\r\nBcc: v@example.com", "<id@example.com>", "http://u"),
        ("a@example.com", "<id@example.com>\nBcc: v@example.com", "http://u"),
        ("a@example.com", "<id@example.com>", "http://u\r\nX-Evil: 1"),
        ("caf\u00e9@example.com", "<id@example.com>", "http://u"),
    ],
)
def test_compiled_message_refuses_bad_recipient_values(to, message_id, url):
    from app.delivery.render import CompiledMessage

    compiled = CompiledMessage(Content("Hi", "news@example.com", "News", "<p>x</p>", "x"))
    with pytest.raises(HeaderInjectionError):
        compiled.render(to, message_id, NOW, url)


def test_compiled_message_matches_what_the_email_package_reads():
    from email import message_from_bytes, policy

    from app.delivery.render import CompiledMessage

    content = Content(
        "Caf\u00e9 \u2603 news",
        "news@example.com",
        'Ann "The" News',
        "<p>H\u00e9llo <a href='{{ unsubscribe_url }}'>leave</a></p>",
        "H\u00e9llo\n",
    )
    compiled = CompiledMessage(content)
    for i in range(3):
        raw = compiled.render(f"r{i}@example.com", f"<id{i}@example.com>", NOW, f"http://x/u/{i}.abc")
        message = message_from_bytes(raw, policy=policy.default)
        assert message["Subject"] == "Caf\u00e9 \u2603 news" and message["To"] == f"r{i}@example.com"
        assert message["From"].addresses[0].display_name == 'Ann "The" News'
        assert message["Message-ID"] == f"<id{i}@example.com>"
        assert message["List-Unsubscribe"] == f"<http://x/u/{i}.abc>"
        assert f"href='http://x/u/{i}.abc'" in message.get_body(("html",)).get_content()
        assert message.get_body(("plain",)).get_content().endswith(f"Unsubscribe: http://x/u/{i}.abc\n")
        assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
