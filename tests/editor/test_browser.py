"""The editor in a real browser: the preview follows the typing (HTMX), sandboxed; a test send arrives."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from app.services import lists
from tests.conftest import PASSWORD
from tests.editor.conftest import set_attributes
from tests.factories import add_subscribers

pytestmark = pytest.mark.browser


def test_live_preview_follows_the_typing_and_a_test_send_arrives(
    page,
    shot,
    make_user,
    smtp_server,
    background_worker,
):
    user = make_user()
    mailing_list = lists.create(user.account_id, "Friends")
    first = add_subscribers(user.account_id, mailing_list.id, 2)[0]
    set_attributes(first.id, {"plan": "gold"})
    page.goto("/login")
    page.get_by_label("E-mail").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    expect(page).not_to_have_url(re.compile(r"/login"))

    page.goto("/campaigns/new")
    page.get_by_label("Subject").fill("News for {{ subscriber.name }}")
    page.get_by_label("From address").fill("news@example.com")
    page.get_by_label("Format").select_option("html")
    page.get_by_label("Body").fill(
        "<style>h1 { color: #b00; }</style><h1>Hi {{ subscriber.name }}</h1>"
        "<p>Plan: {{ subscriber.attributes.plan }}</p>"
        "<script>parent.document.title = 'escaped'</script>"
    )
    frame = page.frame_locator("#live-preview iframe")
    heading = frame.get_by_role("heading", name="Hi User 0")
    expect(heading).to_be_visible()
    assert heading.evaluate("h => getComputedStyle(h).color") == "rgb(187, 0, 0)"  # the inlined style
    expect(frame.get_by_text("Plan: gold")).to_be_visible()
    assert page.locator("#live-preview iframe").get_attribute("sandbox") == ""
    assert page.title() != "escaped"  # the author's script did not run
    shot(page, "live-preview")

    # A misspelt variable shows as an error with its line, before anything is saved.
    page.get_by_label("Body").fill("<p>ok</p>\n<p>{{ subscriber.nmae }}</p>")
    expect(
        page.locator("#live-preview").get_by_text(re.compile(r"on line 2: subscriber has no 'nmae'"))
    ).to_be_visible()
    shot(page, "live-error")
    page.get_by_label("Body").fill("<h1>Hi {{ subscriber.name }}</h1>")
    expect(frame.get_by_role("heading", name="Hi User 0")).to_be_visible()
    page.get_by_role("button", name="Save draft").click()

    page.get_by_label("Send a test to").fill("me@example.org")
    page.get_by_role("button", name="Send test").click()
    expect(page.get_by_text("Test sent to me@example.org")).to_be_visible()
    shot(page, "draft")
    deadline = time.monotonic() + 20
    while not smtp_server.to("me@example.org") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert smtp_server.to("me@example.org")[0].message["Subject"] == "[Test] News for User 0"
