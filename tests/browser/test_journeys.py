"""What a marketer and a subscriber do, in a real browser: the pages, the HTMX updates, the mail."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.services import lists
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _login(page, email="owner@example.com"):
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("log in|sign in", re.I)).click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def test_subscribe_and_confirm(page, shot, make_user, smtp_server, background_worker):
    user = make_user()
    mailing_list = lists.create(user.account_id, "Weekly news")
    page.goto(f"/s/{mailing_list.public_id}")
    shot(page, "subscribe")
    page.get_by_label("E-mail").fill("reader@example.org")
    page.get_by_label("Name").fill("Ada Reader")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text(re.compile("check your inbox|confirm", re.I)).first).to_be_visible()
    shot(page, "subscribed")

    # The confirmation e-mail arrives (sent by the background worker); its link shows a button.
    mail = _wait_for_mail(smtp_server, "reader@example.org")
    link = re.search(r"http://127\.0\.0\.1:\d+/c/\S+", mail.message.get_body(("plain",)).get_content()).group(0)
    page.goto(link)
    shot(page, "confirm")
    page.get_by_role("button", name=re.compile("subscribe me", re.I)).click()
    expect(page.get_by_text(re.compile("confirmed|you are subscribed|welcome", re.I)).first).to_be_visible()
    shot(page, "confirmed")
    assert lists.counts(mailing_list.id)["confirmed"] == 1


def test_compose_preview_send_progress_and_timeline(page, shot, make_user, smtp_server, background_worker):
    from tests.factories import add_subscribers

    user = make_user()
    mailing_list = lists.create(user.account_id, "Customers")
    add_subscribers(user.account_id, mailing_list.id, 40)
    _login(page)

    page.goto("/campaigns/new")
    choice = page.get_by_label("List").locator("option", has_text="Customers").get_attribute("value")
    page.get_by_label("List").select_option(choice)
    page.get_by_label("Subject").fill("Spring offers")
    page.get_by_label("From name").fill("The Shop")
    page.get_by_label("From address").fill("shop@example.com")
    page.get_by_label("Body").fill("# Spring is here\n\nTake **20 %** off this week.")
    shot(page, "compose")
    page.get_by_role("button", name="Save draft").click()

    # The preview renders inside a sandboxed iframe.
    frame = page.frame_locator("iframe.preview")
    expect(frame.get_by_role("heading", name="Spring is here")).to_be_visible()
    assert page.locator("iframe.preview").get_attribute("sandbox") is not None
    shot(page, "draft")

    url = page.url
    page.get_by_role("button", name=re.compile("^Send to")).click()
    shot(page, "sending")
    # Progress reaches 100 % through HTMX polling, without a reload of the page.
    page.evaluate("window.__not_reloaded = true")
    meter = page.get_by_role("progressbar")
    expect(meter).to_have_attribute("aria-valuenow", "100", timeout=10_000)
    assert page.evaluate("window.__not_reloaded === true")
    # The buttons follow the status without a reload: nothing left to pause or cancel.
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel campaign")).to_have_count(0)
    expect(page.get_by_role("button", name="Duplicate")).to_be_visible()
    # The analytics section takes the final figures once more when the campaign settles.
    expect(page.locator("figure.chart-figure").first).to_contain_text("delivered 40")
    assert page.url.split("#")[0].rstrip("/") in (url.rstrip("/"), page.url.rstrip("/"))
    shot(page, "finished")
    assert len(smtp_server.received) == 40

    # The send log leads to one e-mail's timeline.
    page.goto("/emails")
    page.get_by_role("link", name="user0@example.com").first.click()
    expect(page.get_by_text("delivered").first).to_be_visible()
    expect(page.get_by_text("250").first).to_be_visible()
    shot(page, "timeline")


def _wait_for_mail(smtp_server, address: str, timeout: float = 20):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = smtp_server.to(address)
        if found:
            return found[-1]
        time.sleep(0.1)
    from flask import current_app
    from rq import Queue
    from rq.registry import FailedJobRegistry

    queue = Queue(current_app.config["RQ_QUEUE"], connection=current_app.extensions["redis"])
    failed = [queue.fetch_job(i).exc_info for i in FailedJobRegistry(queue=queue).get_job_ids()]
    raise AssertionError(f"no e-mail to {address} within {timeout} s; queued {queue.count}, failed jobs: {failed}")
