"""Tracking fixtures: a campaign sent for real to the loopback SMTP server, and its tracked URLs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Campaign, SentEmail
from app.models.base import utcnow
from app.services import campaigns, lists
from tests.factories import add_subscribers, make_campaign

BODY = (
    '<p>Hello! Read <a href="https://example.com/news?a=1&amp;b=2">the news</a>, '
    "<a href='http://example.org/shop'>the shop</a>, "
    '<a href="mailto:help@example.com">write</a>, <a href="#top">top</a>, <a href="tel:+123">call</a> '
    'and <a href="https://example.com/news?a=1&amp;b=2">the news again</a>.</p>'
)
_SRC = re.compile(r'src="(http://localhost/t/o/[^"]+)"')
_HREF = re.compile(r'href="([^"]+)"')


@dataclass
class Sent:
    campaign: Campaign
    account_id: int
    emails: dict[str, int]  # recipient -> sent_emails.id
    html: dict[str, str]  # recipient -> the HTML part the SMTP server received
    text: dict[str, str]

    def pixel(self, recipient: str) -> str:
        return _SRC.search(self.html[recipient]).group(1).removeprefix("http://localhost")

    def links(self, recipient: str) -> list[str]:
        return [url.removeprefix("http://localhost") for url in _HREF.findall(self.html[recipient]) if "/t/c/" in url]


@pytest.fixture
def send_campaign(app, make_user, run_jobs, smtp_server):
    """Send a campaign to ``count`` subscribers of a new list; answer what they received."""
    users = {}

    def send(
        count: int = 2, body: str = BODY, list_tracking: bool = True, delivered_ago: float = 3600, **campaign_fields
    ) -> Sent:
        """``delivered_ago``: seconds to move ``sent_at`` back, so a click is not "within seconds of delivery"."""
        user = users.get("owner") or make_user()
        users["owner"] = user
        mailing_list = lists.create(user.account_id, f"List {len(users)}", "", True, list_tracking)
        users[mailing_list.id] = mailing_list
        subscribers = add_subscribers(user.account_id, mailing_list.id, count)
        fields = {"body_format": "html", "body": body} | campaign_fields
        campaign = make_campaign(user.account_id, mailing_list.id, **fields)
        campaigns.send(user.account_id, campaign.id)
        run_jobs()
        delivered_at = utcnow() - timedelta(seconds=delivered_ago)
        db.session.execute(
            sa.update(SentEmail).where(SentEmail.campaign_id == campaign.id).values(sent_at=delivered_at)
        )
        db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(started_at=delivered_at - timedelta(seconds=1), finished_at=delivered_at)
        )
        db.session.commit()
        rows = db.session.execute(
            sa.select(SentEmail.recipient, SentEmail.id).where(SentEmail.campaign_id == campaign.id)
        )
        emails = {recipient: email_id for recipient, email_id in rows}
        html, text = {}, {}
        for subscriber in subscribers:
            [received] = smtp_server.to(subscriber.email)
            message = received.message
            part = message.get_body(("html",))
            html[subscriber.email] = part.get_content() if part else ""
            text[subscriber.email] = message.get_body(("plain",)).get_content()
        smtp_server.reset()
        return Sent(db.session.get(Campaign, campaign.id), user.account_id, emails, html, text)

    return send
