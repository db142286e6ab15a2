"""The privacy switches over the API: a list's ``tracking``, a campaign's ``track_opens`` and ``track_clicks``.

Each is read and set through the API (create and update), documented in the OpenAPI document
(every call here is checked against it by the ``api`` fixture), and does what it says: the
e-mails of a campaign that tracks no opens carry no pixel, those of one that tracks no clicks
keep their links as written.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Campaign, MailingList
from app.services import campaigns
from tests.factories import add_subscribers, make_list

LINK = "https://example.com/offer"


def _campaign(list_id: int, **switches) -> dict:
    return {
        "list_id": list_id,
        "subject": "Offer",
        "from_email": "news@example.com",
        "html": f'<p>See <a href="{LINK}">the offer</a>.</p>',
        **switches,
    }


def _switches(campaign_id: int) -> tuple[bool, bool]:
    db.session.expire_all()
    campaign = db.session.get(Campaign, campaign_id)
    return campaign.track_opens, campaign.track_clicks


def test_a_list_tracks_by_default_and_can_be_created_without(api):
    default = api.post("/api/v1/lists", json={"name": "Tracked"}).get_json()
    private = api.post("/api/v1/lists", json={"name": "Private", "tracking": False})

    assert default["tracking"] is True
    assert private.status_code == 201
    assert private.get_json()["tracking"] is False
    assert db.session.get(MailingList, private.get_json()["id"]).tracking is False
    assert api.get(f"/api/v1/lists/{private.get_json()['id']}").get_json()["tracking"] is False


def test_a_lists_tracking_is_switched_alone(api, owner):
    mailing_list = make_list(owner.account_id, "News")

    off = api.patch(f"/api/v1/lists/{mailing_list.id}", json={"tracking": False})
    renamed = api.patch(f"/api/v1/lists/{mailing_list.id}", json={"name": "Weekly"})

    assert off.status_code == 200 and off.get_json()["tracking"] is False
    assert renamed.get_json()["tracking"] is False  # another change leaves the switch alone
    assert api.patch(f"/api/v1/lists/{mailing_list.id}", json={"tracking": True}).get_json()["tracking"] is True


def test_a_switch_that_is_not_a_boolean_is_refused_and_changes_nothing(api, owner):
    mailing_list = make_list(owner.account_id)
    campaign = api.post("/api/v1/campaigns", json=_campaign(mailing_list.id)).get_json()

    for path, body in (
        (f"/api/v1/lists/{mailing_list.id}", {"tracking": "off"}),
        (f"/api/v1/lists/{mailing_list.id}", {"tracking": 0}),
        (f"/api/v1/campaigns/{campaign['id']}", {"track_opens": "no"}),
        (f"/api/v1/campaigns/{campaign['id']}", {"track_clicks": 1, "subject": "Changed"}),
    ):
        response = api.patch(path, json=body)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["field"] in ("tracking", "track_opens", "track_clicks")
    refused = api.post("/api/v1/lists", json={"name": "Bad", "tracking": "yes"})
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "tracking"

    db.session.expire_all()
    assert db.session.get(MailingList, mailing_list.id).tracking is True
    assert _switches(campaign["id"]) == (True, True)
    assert db.session.get(Campaign, campaign["id"]).subject == "Offer"
    assert db.session.scalar(sa.select(sa.func.count(MailingList.id))) == 1


def test_a_new_campaign_takes_its_lists_setting_unless_told(api, owner):
    private = make_list(owner.account_id, "Private")
    api.patch(f"/api/v1/lists/{private.id}", json={"tracking": False})
    tracked = make_list(owner.account_id, "Tracked")

    copied = api.post("/api/v1/campaigns", json=_campaign(private.id)).get_json()
    opens_only = api.post("/api/v1/campaigns", json=_campaign(tracked.id, track_clicks=False)).get_json()

    assert (copied["track_opens"], copied["track_clicks"]) == (False, False)
    assert copied["tracking"] == {"opens": False, "clicks": False}
    assert (opens_only["track_opens"], opens_only["track_clicks"]) == (True, False)
    assert opens_only["tracking"] == {"opens": True, "clicks": False}
    assert _switches(opens_only["id"]) == (True, False)


def test_a_drafts_switches_change_alone_and_the_list_overrides_them(api, owner):
    mailing_list = make_list(owner.account_id)
    campaign = api.post("/api/v1/campaigns", json=_campaign(mailing_list.id)).get_json()

    changed = api.patch(f"/api/v1/campaigns/{campaign['id']}", json={"track_opens": False})

    assert changed.status_code == 200
    body = changed.get_json()
    assert (body["track_opens"], body["track_clicks"]) == (False, True)
    assert body["html"] == campaign["html"]  # the content is not part of the change
    api.patch(f"/api/v1/lists/{mailing_list.id}", json={"tracking": False})
    shown = api.get(f"/api/v1/campaigns/{campaign['id']}").get_json()
    assert (shown["track_opens"], shown["track_clicks"]) == (False, True)  # its own switches, as set
    assert shown["tracking"] == {"opens": False, "clicks": False}  # what its e-mails carry
    assert api.get("/api/v1/campaigns").get_json()["data"][0]["tracking"] == {"opens": False, "clicks": False}


def test_a_sent_campaigns_switches_are_fixed(api, owner, run_jobs):
    mailing_list = make_list(owner.account_id)
    add_subscribers(owner.account_id, mailing_list.id, 1)
    campaign = api.post("/api/v1/campaigns", json=_campaign(mailing_list.id)).get_json()
    campaigns.send(owner.account_id, campaign["id"])
    run_jobs()

    response = api.patch(f"/api/v1/campaigns/{campaign['id']}", json={"track_clicks": False})

    assert response.status_code == 409
    assert _switches(campaign["id"]) == (True, True)


def test_the_switches_decide_what_the_e_mails_carry(api, owner, run_jobs, smtp_server):
    mailing_list = make_list(owner.account_id)
    add_subscribers(owner.account_id, mailing_list.id, 1)
    clicks_only = api.post("/api/v1/campaigns", json=_campaign(mailing_list.id, track_opens=False)).get_json()
    nothing = api.post(
        "/api/v1/campaigns", json=_campaign(mailing_list.id, track_opens=True, track_clicks=True)
    ).get_json()
    api.patch(f"/api/v1/campaigns/{nothing['id']}", json={"track_opens": False, "track_clicks": False})

    bodies = {}
    for campaign in (clicks_only, nothing):
        smtp_server.reset()
        assert api.post(f"/api/v1/campaigns/{campaign['id']}/send", json={}).status_code == 202
        run_jobs()
        [mail] = smtp_server.to("user0@example.com")
        bodies[campaign["id"]] = mail.message.get_body(("html",)).get_content()

    assert "/t/o/" not in bodies[clicks_only["id"]] and "/t/c/" in bodies[clicks_only["id"]]
    assert LINK not in bodies[clicks_only["id"]]
    assert "/t/o/" not in bodies[nothing["id"]] and "/t/c/" not in bodies[nothing["id"]]
    assert LINK in bodies[nothing["id"]]


def test_the_switches_are_documented(anon):
    schemas = anon.get("/api/v1/openapi.json").get_json()["components"]["schemas"]

    for name in ("ListCreate", "ListUpdate", "ListOut"):
        assert "privacy" in schemas[name]["properties"]["tracking"]["description"], name
    assert schemas["ListCreate"]["properties"]["tracking"]["type"] == "boolean"
    assert "tracking" in schemas["ListOut"]["required"]
    for name in ("CampaignCreate", "CampaignUpdate"):
        for switch in ("track_opens", "track_clicks"):
            prop = schemas[name]["properties"][switch]
            assert {"type": "boolean"} in prop["anyOf"], (name, switch)
    out = schemas["CampaignOut"]
    assert {"track_opens", "track_clicks", "tracking"} <= set(out["required"])
    assert out["properties"]["tracking"] == {"$ref": "#/components/schemas/CampaignTracking"}
    assert set(schemas["CampaignTracking"]["required"]) == {"opens", "clicks"}
