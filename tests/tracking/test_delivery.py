"""Tracked messages as the SMTP server receives them, and the privacy switches that turn tracking off."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from app.models import TrackedLink
from tests.tracking.conftest import BODY


def test_links_are_rewritten_and_a_pixel_added(send_campaign):
    sent = send_campaign(count=2)
    first, second = sorted(sent.html)

    html = sent.html[first]
    assert "https://example.com/news" not in html and "http://example.org/shop" not in html
    assert 'href="mailto:help@example.com"' in html and 'href="#top"' in html and 'href="tel:+123"' in html
    assert re.search(r'href="http://localhost/u/[^"]+"', html)  # the unsubscribe link is left alone
    links = sent.links(first)
    assert len(links) == 3 and links[0] == links[2]  # the same URL twice: one tracked link
    assert all(re.fullmatch(r"/t/c/\d+\.\d\.[\w-]{12}", link) for link in links)
    assert re.fullmatch(r"/t/o/\d+\.[\w-]{12}\.gif", sent.pixel(first))
    # Each recipient's tokens are their own.
    assert set(sent.links(first)).isdisjoint(sent.links(second)) and sent.pixel(first) != sent.pixel(second)
    # The plain-text part's links are tracked too (html2text wrote them as <url>).
    assert "example.com/news" not in sent.text[first] and "http://localhost/t/c/" in sent.text[first]

    stored = db.session.execute(
        sa.select(TrackedLink.position, TrackedLink.url)
        .where(TrackedLink.campaign_id == sent.campaign.id)
        .order_by(TrackedLink.position)
    ).all()
    assert stored == [(0, "https://example.com/news?a=1&b=2"), (1, "http://example.org/shop")]


def test_a_list_with_tracking_off_sends_the_message_as_written(send_campaign):
    sent = send_campaign(count=1, list_tracking=False)
    [html] = sent.html.values()

    assert "/t/o/" not in html and "/t/c/" not in html
    assert 'href="https://example.com/news?a=1&amp;b=2"' in html and "href='http://example.org/shop'" in html
    assert "/t/c/" not in next(iter(sent.text.values()))


def test_a_campaign_can_turn_off_opens_or_clicks(send_campaign):
    no_opens = send_campaign(count=1, track_opens=False)
    [html] = no_opens.html.values()
    assert "/t/o/" not in html and "/t/c/" in html

    no_clicks = send_campaign(count=1, track_clicks=False)
    [html] = no_clicks.html.values()
    assert "/t/o/" in html and "/t/c/" not in html and "https://example.com/news?a=1&amp;b=2" in html


def test_both_off_means_the_bytes_carry_no_trace_of_tracking(send_campaign, smtp_server):
    sent = send_campaign(count=1, track_opens=False, track_clicks=False)
    [html] = sent.html.values()

    assert "/t/" not in html and BODY in html


def test_a_new_campaign_copies_its_lists_setting(app, make_user):
    from app.services import campaigns, lists
    from tests.factories import make_campaign

    user = make_user()
    private = lists.create(user.account_id, "Private", tracking=False)
    campaign = make_campaign(user.account_id, private.id)
    assert (campaign.track_opens, campaign.track_clicks) == (False, False)

    public = lists.create(user.account_id, "Public")
    campaign = campaigns.create(
        user.account_id,
        {"list_id": public.id, "subject": "Hi", "from_email": "a@example.com", "body": "x", "track_clicks": False},
    )
    assert (campaign.track_opens, campaign.track_clicks) == (True, False)


def test_editing_a_draft_replaces_its_links(app, make_user):
    from app.services import campaigns, lists
    from tests.factories import make_campaign

    user = make_user()
    mailing_list = lists.create(user.account_id, "News")
    campaign = make_campaign(user.account_id, mailing_list.id, body="[a](https://a.example/) [b](https://b.example/)")
    campaigns.update(user.account_id, campaign.id, {"body": "[c](https://c.example/) [a](https://a.example/)"})

    urls = db.session.scalars(
        sa.select(TrackedLink.url).where(TrackedLink.campaign_id == campaign.id).order_by(TrackedLink.position)
    ).all()
    assert urls == ["https://c.example/", "https://a.example/"]
