"""Support staff find an e-mail from the header's one search box: by recipient address, or by Message-ID."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.extensions import db
from app.models import Role, SentEmail
from app.services import campaigns, lists
from tests.browser.test_journeys import _login
from tests.factories import add_subscribers, make_campaign

pytestmark = pytest.mark.browser

SEARCH = "Find e-mails by recipient address or Message-ID"


def test_support_finds_an_email_by_address_and_by_message_id(page, shot, make_user, smtp_server, run_jobs):
    owner = make_user()
    make_user("support@example.com", Role.SUPPORT, owner.account.name)
    mailing_list = lists.create(owner.account_id, "Customers", "", False)
    add_subscribers(owner.account_id, mailing_list.id, 3)
    for subject in ("Spring offers", "Summer offers"):
        campaign = make_campaign(owner.account_id, mailing_list.id, subject=subject)
        campaigns.send(owner.account_id, campaign.id)
        run_jobs()
    spring = db.session.scalar(
        sa.select(SentEmail).where(SentEmail.recipient == "user1@example.com").order_by(SentEmail.id).limit(1)
    )
    assert spring.status.value == "delivered"

    _login(page, "support@example.com")
    # A support user reads and changes nothing: the pages offer no write control.
    writes = page.locator("form[method='post']").filter(has_not=page.get_by_role("button", name="Log out"))
    for path in ("/", f"/lists/{mailing_list.id}", f"/campaigns/{campaign.id}", "/suppressions"):
        page.goto(path)
        expect(writes).to_have_count(0)
    page.goto(f"/lists/{mailing_list.id}")
    expect(page.get_by_role("link", name="Import CSV")).to_have_count(0)
    expect(page.get_by_role("link", name="Export CSV")).to_be_visible()
    shot(page, "list-read-only")

    # By address: the recipient's e-mails, newest first, each leading to its timeline.
    page.get_by_role("searchbox", name=SEARCH).fill("User1@Example.com")
    page.get_by_role("searchbox", name=SEARCH).press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q="))
    expect(page.get_by_role("heading", name="user1@example.com")).to_be_visible()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Spring offers")).to_have_count(1)
    shot(page, "by-address")
    rows.filter(has_text="Spring offers").get_by_role("link").click()
    expect(page.get_by_role("heading", name="E-mail to user1@example.com")).to_be_visible()
    expect(page.get_by_text(spring.message_id)).to_be_visible()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    expect(page.locator("ol.timeline").get_by_text("delivered")).to_be_visible()
    expect(page.get_by_text("250").first).to_be_visible()

    # By Message-ID, as pasted from the e-mail's headers (with the angle brackets): straight to it.
    page.goto("/")
    page.get_by_role("searchbox", name=SEARCH).fill(f"<{spring.message_id.strip('<>')}>")
    page.get_by_role("searchbox", name=SEARCH).press("Enter")
    expect(page).to_have_url(re.compile(rf"/emails/{spring.id}$"))
    expect(page.get_by_role("heading", name="E-mail to user1@example.com")).to_be_visible()
    expect(page.get_by_role("link", name="Spring offers")).to_be_visible()
    shot(page, "by-message-id")

    # And without the brackets; an unknown one says so.
    page.get_by_role("searchbox", name=SEARCH).fill(spring.message_id.strip("<>"))
    page.get_by_role("searchbox", name=SEARCH).press("Enter")
    expect(page).to_have_url(re.compile(rf"/emails/{spring.id}$"))
    page.get_by_role("searchbox", name=SEARCH).fill("<nothing@example.com.invalid>")
    page.get_by_role("searchbox", name=SEARCH).press("Enter")
    expect(page.get_by_text(re.compile("Nothing found for"))).to_be_visible()
    shot(page, "not-found")
