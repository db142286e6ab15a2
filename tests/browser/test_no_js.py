"""The basic pages work without JavaScript: a real browser with scripts off, plain links and forms only.

HTMX makes the pages live (polling progress, the editor's preview as you type), but each of
those is an extra: with JavaScript disabled the same journeys complete through ``href`` links
and ``<form>`` posts, and a reload shows what polling would have shown.
"""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from flask import current_app
from playwright.sync_api import expect

from app import links
from app.extensions import db
from app.models import MailingList, SentEmail, Subscriber
from app.services import lists
from tests.browser.test_journeys import _wait_for_mail
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def plain(_browser, live_server):
    """A page of a browser context with JavaScript disabled."""
    context = _browser.new_context(
        base_url=live_server, java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def _flash(page, text: str) -> None:
    expect(page.locator(".flash").filter(has_text=text).first).to_be_visible()


def test_the_dashboard_works_without_javascript(plain, shot, make_user, smtp_server, background_worker):
    page = plain
    make_user()
    page.goto("/login")
    assert page.evaluate("typeof window.htmx") == "undefined"  # no script ran: htmx is not there
    page.get_by_label("E-mail").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # Lists: create one, add a subscriber.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Lists").click()
    page.get_by_role("link", name="New list").click()
    page.get_by_label("Name", exact=True).fill("Plain news")
    page.get_by_label(re.compile("Double opt-in")).uncheck()
    page.get_by_role("button", name="Create list").click()
    expect(page.get_by_role("heading", name="Plain news")).to_be_visible()
    page.get_by_label("E-mail", exact=True).fill("reader@example.org")
    page.get_by_label("Name", exact=True).fill("Ada Reader")
    page.get_by_role("button", name="Add", exact=True).click()
    _flash(page, "reader@example.org added as confirmed")
    page.get_by_role("button", name="Turn tracking off").click()
    _flash(page, "Tracking is off")
    shot(page, "list")

    # A campaign: compose (the preview is rendered by the server), save, edit, save, send.
    page.get_by_role("link", name="Write a campaign").click()
    page.get_by_label("Subject").fill("Plain offers")
    page.get_by_label("From name").fill("The Shop")
    page.get_by_label("From address").fill("shop@example.com")
    page.get_by_label("Body").fill("# Hello {{ subscriber.name }}\n\nNo script needed.")
    page.get_by_role("button", name="Save draft").click()
    _flash(page, "Draft saved")
    expect(page.frame_locator("iframe.preview").get_by_role("heading", name="Hello Ada Reader")).to_be_visible()
    page.get_by_role("link", name="Edit", exact=True).click()
    expect(page.frame_locator("#live-preview iframe").get_by_role("heading", name="Hello Ada Reader")).to_be_visible()
    page.get_by_label("Subject").fill("Plain offers, edited")
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_text("Plain offers, edited").first).to_be_visible()
    page.get_by_role("button", name="Send to Plain news").click()
    _flash(page, "is sending")
    deadline = time.monotonic() + 20
    while page.get_by_role("progressbar").get_attribute("aria-valuenow") != "100":  # a reload, not polling
        assert time.monotonic() < deadline, "the campaign did not finish"
        time.sleep(0.3)
        page.reload()
    shot(page, "campaign")

    # The send log, filtered by recipient, leads to the e-mail's timeline.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Send log").click()
    page.get_by_label("Recipient", exact=True).fill("reader@example.org")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("link", name="reader@example.org").first.click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.get_by_text("delivered").first).to_be_visible()
    message_id = page.locator("dt:text('Message-ID') + dd code").inner_text()

    # The header search box: by address, then by Message-ID (Enter submits a one-field form).
    search = page.get_by_role("searchbox", name="Find e-mails by recipient address or Message-ID")
    search.fill("reader@example.org")
    search.press("Enter")
    expect(page.get_by_role("heading", name="reader@example.org")).to_be_visible()
    page.get_by_role("searchbox", name="Find e-mails by recipient address or Message-ID").fill(message_id)
    page.get_by_role("searchbox", name="Find e-mails by recipient address or Message-ID").press("Enter")
    expect(page.get_by_role("heading", name="E-mail to reader@example.org")).to_be_visible()

    # The subscriber's page: attributes, then a status change.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Subscribers").click()
    page.get_by_role("link", name="reader@example.org").click()
    page.get_by_label("Attributes, as a JSON object").fill('{"plan": "pro"}')
    page.get_by_role("button", name="Save attributes").click()
    _flash(page, "Attributes of reader@example.org")
    page.get_by_label("New status for Plain news").select_option("unsubscribed")
    page.get_by_role("button", name="Change").click()
    _flash(page, "reader@example.org is now unsubscribed")
    shot(page, "subscriber")

    # Suppressions: add one, remove it.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Suppressions").click()
    page.get_by_label("E-mail address").fill("blocked@example.org")
    page.get_by_role("button", name="Suppress").click()
    _flash(page, "blocked@example.org is suppressed")
    page.get_by_role("button", name="Remove blocked@example.org").click()
    _flash(page, "blocked@example.org removed from the suppression list")

    with current_app.app_context():
        db.session.expire_all()
        reader = db.session.scalar(sa.select(Subscriber).where(Subscriber.email == "reader@example.org"))
        assert (reader.status.value, reader.attributes) == ("unsubscribed", {"plan": "pro"})
        assert db.session.scalar(sa.select(MailingList.tracking)) is False
        assert db.session.scalar(sa.select(sa.func.count(SentEmail.id))) == 1
    mail = _wait_for_mail(smtp_server, "reader@example.org")
    assert "Hello Ada Reader" in mail.message.get_body(("plain",)).get_content()


def test_the_public_pages_work_without_javascript(plain, shot, make_user, smtp_server, background_worker):
    page = plain
    user = make_user()
    mailing_list = lists.create(user.account_id, "Weekly news")

    page.goto(f"/s/{mailing_list.public_id}")
    page.get_by_label("E-mail").fill("reader@example.org")
    page.get_by_label("Name").fill("Ada Reader")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text(re.compile("check your inbox|confirm", re.I)).first).to_be_visible()

    mail = _wait_for_mail(smtp_server, "reader@example.org")
    link = re.search(r"http://127\.0\.0\.1:\d+/c/\S+", mail.message.get_body(("plain",)).get_content()).group(0)
    page.goto(link)
    page.get_by_role("button", name=re.compile("subscribe me", re.I)).click()
    expect(page.get_by_text(re.compile("confirmed|you are subscribed|welcome", re.I)).first).to_be_visible()
    assert lists.counts(mailing_list.id)["confirmed"] == 1

    subscriber = db.session.scalar(sa.select(Subscriber).where(Subscriber.email == "reader@example.org"))
    token = links.unsubscribe_token(current_app.config["SECRET_KEY"], subscriber.id, mailing_list.id)
    page.goto(f"/u/{token}")
    shot(page, "unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_text(re.compile("unsubscribed", re.I)).first).to_be_visible()
    assert lists.counts(mailing_list.id)["unsubscribed"] == 1
