"""Link rewriting and tokens, without a database: what is tracked, and what it costs per recipient."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from app.delivery.render import CompiledMessage, Content
from app.tracking import links, tokens

BASE = "http://localhost"
KEY = tokens.tracking_key("secret")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _body(html: str, text: str = "", opens: bool = True, base: str = BASE) -> links.TrackedBody:
    found = links.find(html, text, base)
    return links.TrackedBody(html, text, links.Tracking(base, KEY, {u: i for i, u in enumerate(found)}, opens))


@pytest.mark.parametrize(
    "href",
    [
        "mailto:ann@example.com",
        "tel:+4912345",
        "#section-2",
        "/relative/path",
        "ftp://files.example.com/x",
        "javascript:alert(1)",
        "data:text/html,hi",
        "{{ unsubscribe_url }}",
        "http://localhost/u/1.abc",  # Postroom's own unsubscribe page
        "https://",
        "https://example.com/has space",
        "https://example.com/" + "x" * 2100,
    ],
)
def test_only_http_links_elsewhere_are_tracked(href):
    html = f'<p><a href="{href}">x</a></p>'
    assert links.find(html, "", BASE) == []
    assert _body(html, opens=False).fill(1) == (html, "")


def test_http_and_https_links_are_found_whatever_the_quoting_and_case():
    html = (
        "<a href=\"https://a.example/1?x=1&amp;y=2\">1</a> <a class=b href='http://b.example/'>2</a> "
        '<A HREF=https://c.example/>3</A> <a data-href="https://no.example/" href="https://d.example/">4</a> '
        '<area shape="rect" href="https://e.example/">'
    )
    assert links.find(html, "", BASE) == [
        "https://a.example/1?x=1&y=2",
        "http://b.example/",
        "https://c.example/",
        "https://d.example/",
        "https://e.example/",
    ]


def test_the_tracked_url_never_contains_the_target_and_each_recipient_gets_their_own():
    html = '<p><a href="https://target.example/secret-path?q=1">go</a></p>'
    body = _body(html, "Go: https://target.example/secret-path?q=1.")

    first_html, first_text = body.fill(101)
    second_html, _ = body.fill(102)

    for part in (first_html, first_text):
        assert "target.example" not in part and "secret-path" not in part
    assert first_text.endswith(".")  # the sentence's full stop stays outside the link
    [first_link] = re.findall(r'href="([^"]+)"', first_html)
    [second_link] = re.findall(r'href="([^"]+)"', second_html)
    assert first_link.startswith(f"{BASE}/t/c/101.0.") and second_link.startswith(f"{BASE}/t/c/102.0.")
    assert tokens.parse_click(KEY, first_link.rpartition("/")[2]) == (101, 0)
    [pixel] = re.findall(r'<img src="([^"]+)"', first_html)
    assert tokens.parse_open(KEY, pixel.rpartition("/")[2].removesuffix(".gif")) == 101


def test_the_pixel_goes_before_the_closing_body_tag_or_at_the_end():
    html, _ = _body("<html><body><p>Hi</p></body></html>").fill(5)
    assert re.search(r'<img src="http://localhost/t/o/5\.[\w-]{12}\.gif"[^>]*></body></html>$', html)
    html, _ = _body("<p>Hi</p>").fill(5)
    assert html.startswith("<p>Hi</p>\n<img src=")


def test_tokens_are_bound_to_their_email_link_and_purpose():
    other = tokens.tracking_key("another secret")
    click = tokens.click_token(KEY, 7, 2)
    assert tokens.parse_click(KEY, click) == (7, 2)
    assert tokens.parse_click(other, click) is None
    email, position, signature = click.split(".")
    assert tokens.parse_click(KEY, f"8.{position}.{signature}") is None
    assert tokens.parse_click(KEY, f"{email}.3.{signature}") is None
    assert tokens.parse_open(KEY, f"{email}.{signature}") is None  # a link's signature opens nothing
    assert tokens.parse_click(KEY, f"{email}.{position}.{signature}\u00e9") is None


def test_a_campaign_is_parsed_once_and_each_recipient_costs_one_hash(monkeypatch):
    calls = {"parse": 0, "text": 0, "hash": 0}

    class CountingAnchors(links._Anchors):
        def __init__(self, source):
            calls["parse"] += 1
            super().__init__(source)

    real_text_urls, real_stream = links._text_urls, tokens._stream
    monkeypatch.setattr(links, "_Anchors", CountingAnchors)
    monkeypatch.setattr(
        links, "_text_urls", lambda text: calls.__setitem__("text", calls["text"] + 1) or real_text_urls(text)
    )
    monkeypatch.setattr(tokens, "_stream", lambda *a: calls.__setitem__("hash", calls["hash"] + 1) or real_stream(*a))
    html = '<p><a href="https://a.example/">a</a> <a href="https://b.example/">b</a> <a href="https://c.example/">c</a></p>'
    content = Content("Hi", "news@example.com", "News", html, "a: https://a.example/\n")
    tracking = links.Tracking(
        BASE, KEY, {"https://a.example/": 0, "https://b.example/": 1, "https://c.example/": 2}, True
    )
    compiled = CompiledMessage(content, tracking)
    assert calls == {"parse": 1, "text": 1, "hash": 0}

    for i in range(100):
        raw = compiled.render(f"r{i}@example.com", f"<{i}@example.com>", NOW, f"{BASE}/u/{i}.x", email_id=i + 1)

    assert calls == {"parse": 1, "text": 1, "hash": 100}
    message = message_from_bytes(raw, policy=policy.default)
    sent_html = message.get_body(("html",)).get_content()
    assert sent_html.count("/t/c/100.") == 3 and "/t/o/100." in sent_html and "a.example" not in sent_html
    assert message["List-Unsubscribe"] == f"<{BASE}/u/99.x>"


def test_an_untracked_compiled_message_is_the_same_as_before():
    content = Content("Hi", "news@example.com", "News", '<a href="https://a.example/">a</a>', "a")
    raw = CompiledMessage(content).render("r@example.com", "<1@example.com>", NOW, f"{BASE}/u/1.x")
    html = message_from_bytes(raw, policy=policy.default).get_body(("html",)).get_content()
    assert 'href="https://a.example/"' in html and "/t/" not in html


def test_a_tracked_message_needs_its_email_id():
    content = Content("Hi", "news@example.com", "News", "<p>x</p>", "x")
    compiled = CompiledMessage(content, links.Tracking(BASE, KEY, {}, True))
    with pytest.raises(ValueError):
        compiled.render("r@example.com", "<1@example.com>", NOW, f"{BASE}/u/1.x")


def test_markup_the_parser_cannot_read_leaves_the_rest_as_written():
    html = '<a href="https://a.example/">a</a> <![ x <a href="https://b.example/">b</a>'

    assert links.find(html, "", BASE) == ["https://a.example/"]
    filled, _ = _body(html, opens=False).fill(3)
    assert "https://a.example/" not in filled and '<![ x <a href="https://b.example/">b</a>' in filled
