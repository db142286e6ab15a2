"""The dashboard's pictures: valid, labelled SVG on the campaign, list and status pages."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import sqlalchemy as sa

from app.extensions import db
from app.models import Campaign, MailingList
from app.web import charts
from tests.conftest import csrf_token
from tests.tracking.test_routes import _get

SVG = "{http://www.w3.org/2000/svg}"


def _svgs(html: str) -> dict[str, ET.Element]:
    """Every inline chart of a page, parsed as XML, by id."""
    found = {}
    for source in re.findall(r"<svg\b.*?</svg>", html, re.DOTALL):
        svg = ET.fromstring(source)
        assert svg.get("role") == "img"
        title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
        assert title is not None and title.text and desc is not None and desc.text
        assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        found[svg.get("id")] = svg
    return found


def test_the_campaign_page_shows_activity_statuses_and_links(client, auth, send_campaign, run_jobs):
    sent = send_campaign(count=2)
    first = sorted(sent.html)[0]
    _get(client, sent.pixel(first))
    _get(client, sent.links(first)[1])
    run_jobs()
    auth.login()

    page = client.get(f"/campaigns/{sent.campaign.id}").text

    svgs = _svgs(page)
    statuses = svgs[f"campaign-{sent.campaign.id}-statuses"]
    assert "delivered 2" in statuses.find(f"{SVG}desc").text
    activity = svgs[f"campaign-{sent.campaign.id}-activity"]
    assert "Delivered 2" in activity.find(f"{SVG}desc").text and "Opened 1" in activity.find(f"{SVG}desc").text
    assert "http://example.org/shop" in page and "people opened" in page
    # Finished: the analytics do not poll.
    assert 'id="analytics"' in page and 'hx-get="/campaigns/' not in page.split('id="analytics"')[1].split(">")[0]


def test_the_analytics_fragment_polls_while_sending(client, auth, send_campaign):
    sent = send_campaign(count=1)
    db.session.execute(sa.update(Campaign).where(Campaign.id == sent.campaign.id).values(status="sending"))
    db.session.commit()
    auth.login()

    fragment = client.get(f"/campaigns/{sent.campaign.id}/analytics").text

    assert fragment.lstrip().startswith('<section id="analytics"')
    assert f'hx-get="/campaigns/{sent.campaign.id}/analytics"' in fragment
    assert _svgs(fragment)


def test_the_list_page_shows_growth_and_toggles_tracking(client, auth, send_campaign):
    sent = send_campaign(count=3)
    auth.login()
    list_id = sent.campaign.list_id

    page = client.get(f"/lists/{list_id}").text
    growth = _svgs(page)[f"list-{list_id}-growth"]
    assert "Now: Confirmed 3, Pending 0, Unsubscribed 0." in growth.find(f"{SVG}desc").text

    response = client.post(f"/lists/{list_id}/tracking", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(MailingList, list_id).tracking is False
    page = client.get(f"/lists/{list_id}").text
    client.post(f"/lists/{list_id}/tracking", data={"csrf_token": csrf_token(page), "tracking": "on"})
    db.session.expire_all()
    assert db.session.get(MailingList, list_id).tracking is True


def test_the_status_page_shows_domain_and_provider_health(client, auth, send_campaign):
    send_campaign(count=2)
    auth.login()

    page = client.get("/status").text

    svgs = _svgs(page)
    assert "example.com: delivered 2" in svgs["health-domains"].find(f"{SVG}desc").text
    assert "delivered 2" in svgs["health-providers"].find(f"{SVG}desc").text


def test_the_campaign_form_sets_the_privacy_switches(client, auth, make_user):
    from tests.factories import make_list

    user = make_user()
    mailing_list = make_list(user.account_id)
    auth.login()
    page = client.get("/campaigns/new").text
    assert 'name="track_opens"' in page and 'name="track_clicks"' in page

    client.post(
        "/campaigns/new",
        data={
            "csrf_token": csrf_token(page),
            "list_id": str(mailing_list.id),
            "subject": "Quiet",
            "from_email": "news@example.com",
            "body_format": "markdown",
            "body": "[a](https://a.example/)",
            "track_clicks": "y",
        },
    )

    campaign = db.session.scalar(sa.select(Campaign).where(Campaign.subject == "Quiet"))
    assert (campaign.track_opens, campaign.track_clicks) == (False, True)


def test_charts_escape_their_text_and_handle_no_data():
    svg = charts.stacked_rows(
        "x", "Attempts <by> domain", [("<evil>&.example", [charts.Segment("delivered", 3, "#000")])]
    )
    parsed = ET.fromstring(str(svg))
    assert "<evil>&.example" in "".join(parsed.itertext())
    empty = ET.fromstring(str(charts.stacked_bar("y", "Nothing", [charts.Segment("delivered", 0, "#000")])))
    assert "nothing yet" in empty.find(f"{SVG}desc").text
    ET.fromstring(str(charts.time_chart("z", "Empty", [], 60, [charts.Line("A", [], "#000")])))
