"""Campaigns over the API: compose, validate, change drafts, send now or later, count outcomes."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Campaign, CampaignStatus
from tests.factories import add_subscribers, make_campaign, make_list

FOREIGN = object()  # stands for the other account's list id
DROP = object()  # leaves the field out


@pytest.fixture
def news(owner):
    return make_list(owner.account_id)


def _campaign(list_id, **overrides) -> dict:
    body = {
        "list_id": list_id,
        "subject": "Hello",
        "from_email": "news@example.com",
        "from_name": "The News",
        "html": "<p>Hi <b>there</b></p>",
        "text": "Hi there",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not DROP}


def _rows() -> list[tuple]:
    return [
        tuple(row)
        for row in db.session.execute(
            sa.select(Campaign.id, Campaign.subject, Campaign.from_name, Campaign.html, Campaign.text, Campaign.status)
        )
    ]


def test_create_campaign_with_html_and_text(api, news):
    response = api.post("/api/v1/campaigns", json=_campaign(news.id, name="April"))

    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "draft"
    assert (body["name"], body["subject"], body["from_email"], body["from_name"]) == (
        "April",
        "Hello",
        "news@example.com",
        "The News",
    )
    assert (body["html"], body["text"]) == ("<p>Hi <b>there</b></p>", "Hi there")
    assert body["stats"] == {
        "queued": 0,
        "sending": 0,
        "deferred": 0,
        "delivered": 0,
        "bounced": 0,
        "failed": 0,
        "suppressed": 0,
        "cancelled": 0,
        "total": 0,
    }
    assert (body["send_at"], body["started_at"], body["finished_at"]) == (None, None, None)
    assert db.session.get(Campaign, body["id"]).list_id == news.id


def test_create_campaign_from_a_markdown_body(api, news):
    response = api.post(
        "/api/v1/campaigns",
        json={
            "list_id": news.id,
            "subject": "Hi",
            "from_email": "news@example.com",
            "body": "# Big\n\n**bold**",
            "body_format": "markdown",
        },
    )

    assert response.status_code == 201
    body = response.get_json()
    assert "<h1>Big</h1>" in body["html"] and "<strong>bold</strong>" in body["html"]
    assert body["text"].strip() == "# Big\n\n**bold**"
    assert body["name"] == "Hi"  # the subject, when no name is given


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"from_email": "not-an-address"}, "from_email"),
        ({"from_email": "news@example.com\r\nBcc: x@example.com"}, "from_email"),
        ({"subject": "Hi\r\nBcc: x@example.com"}, "subject"),
        ({"subject": "Hi\nBcc: x@example.com"}, "subject"),
        ({"from_name": "Hi\r\nBcc: x@example.com"}, "from_name"),
        ({"subject": ""}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": None}, "subject"),
        ({"list_id": 999999}, "list_id"),
        ({"list_id": FOREIGN}, "list_id"),
        ({"list_id": "1"}, "list_id"),
        ({"html": "x" * (512 * 1024 + 1)}, "html"),
        ({"text": "x" * (512 * 1024 + 1)}, "text"),
        ({"html": None, "text": None}, "html"),
        ({"body": "# Hi"}, None),
        ({"body_format": "rtf", "html": DROP, "text": DROP, "body": "x"}, "body_format"),
        ({"colour": "red"}, "colour"),
        ({"send_at": "2030-01-01T00:00:00+00:00"}, "send_at"),
    ],
)
def test_invalid_campaigns_are_422_and_change_nothing(request, api, news, overrides, field):
    body = _campaign(news.id) | overrides
    if body["list_id"] is FOREIGN:
        body["list_id"] = request.getfixturevalue("other")["list"]
    before = _rows()

    response = api.post("/api/v1/campaigns", json={key: value for key, value in body.items() if value is not DROP})

    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["field"] == field
    assert _rows() == before


def test_missing_content_is_422(api, news):
    body = {"list_id": news.id, "subject": "Hi", "from_email": "news@example.com"}

    response = api.post("/api/v1/campaigns", json=body)

    assert response.status_code == 422
    assert "html or text" in response.get_json()["error"]["message"]


def test_malformed_json_changes_nothing(api, news):
    raw = json.dumps(_campaign(news.id))[:-5]

    response = api.post("/api/v1/campaigns", data=raw, content_type="application/json")

    assert response.status_code == 400
    assert _rows() == []


def test_campaigns_are_listed_and_filtered(api, owner, news):
    first = make_campaign(owner.account_id, news.id, subject="One")
    second = make_campaign(owner.account_id, news.id, subject="Two")
    db.session.execute(sa.update(Campaign).where(Campaign.id == first.id).values(status=CampaignStatus.FINISHED))
    db.session.commit()

    everything = api.get("/api/v1/campaigns").get_json()
    drafts = api.get("/api/v1/campaigns?status=draft").get_json()
    page = api.get("/api/v1/campaigns?limit=1").get_json()

    assert [c["id"] for c in everything["data"]] == [second.id, first.id]
    assert [c["id"] for c in drafts["data"]] == [second.id]
    assert [c["id"] for c in page["data"]] == [second.id] and page["next_cursor"] == str(second.id)


def test_update_a_draft(api, owner, news):
    campaign = make_campaign(owner.account_id, news.id)

    response = api.patch(f"/api/v1/campaigns/{campaign.id}", json={"subject": "New subject", "from_name": "Ed"})

    assert response.status_code == 200
    assert (response.get_json()["subject"], response.get_json()["from_name"]) == ("New subject", "Ed")
    assert response.get_json()["from_email"] == "news@example.com"


@pytest.mark.parametrize(
    "body",
    [
        {"subject": "Hi\r\nBcc: x@example.com"},
        {"subject": ""},
        {"from_name": "A\nB"},
        {"from_email": "nope"},
        {"list_id": 999999},
        {"html": "x" * (512 * 1024 + 1)},
        {"colour": "red"},
        {"html": "<p>x</p>", "body": "x"},
    ],
)
def test_invalid_update_changes_nothing(api, owner, news, body):
    campaign = make_campaign(owner.account_id, news.id)
    before = _rows()

    response = api.patch(f"/api/v1/campaigns/{campaign.id}", json=body)

    assert response.status_code == 422
    db.session.expire_all()
    assert _rows() == before


def test_update_keeps_the_text_part_it_was_not_given(api, news):
    created = api.post("/api/v1/campaigns", json=_campaign(news.id, text="A text part of its own")).get_json()

    updated = api.patch(f"/api/v1/campaigns/{created['id']}", json={"subject": "New subject"}).get_json()

    assert updated["text"] == "A text part of its own"


def test_send_delivers_to_every_confirmed_subscriber(api, owner, news, run_jobs, smtp_server):
    add_subscribers(owner.account_id, news.id, 5)
    add_subscribers(owner.account_id, news.id, 2, domain="pending.example.com", status="pending")
    run_jobs()
    smtp_server.reset()
    campaign = api.post("/api/v1/campaigns", json=_campaign(news.id)).get_json()

    response = api.post(f"/api/v1/campaigns/{campaign['id']}/send")
    assert response.status_code == 202
    assert response.get_json()["status"] == "sending"
    run_jobs()

    body = api.get(f"/api/v1/campaigns/{campaign['id']}").get_json()
    assert body["status"] == "finished" and body["finished_at"] is not None
    assert body["stats"]["delivered"] == 5 and body["stats"]["total"] == 5
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == [f"user{i}@example.com" for i in range(5)]


def test_send_later_schedules_the_campaign(api, owner, news, run_jobs, smtp_server):
    add_subscribers(owner.account_id, news.id, 1)
    campaign = make_campaign(owner.account_id, news.id)

    response = api.post(f"/api/v1/campaigns/{campaign.id}/send", json={"send_at": "2099-01-01T09:00:00+02:00"})

    assert response.status_code == 202
    body = response.get_json()
    assert (body["status"], body["send_at"], body["started_at"]) == ("scheduled", "2099-01-01T07:00:00+00:00", None)
    run_jobs()
    assert smtp_server.received == []


@pytest.mark.parametrize(
    "body", [{"send_at": "2099-01-01T09:00:00"}, {"send_at": "tomorrow"}, {"send_at": 4102444800}, {"at": "x"}]
)
def test_invalid_send_at_is_422_and_sends_nothing(api, owner, news, run_jobs, smtp_server, body):
    add_subscribers(owner.account_id, news.id, 1)
    campaign = make_campaign(owner.account_id, news.id)

    response = api.post(f"/api/v1/campaigns/{campaign.id}/send", json=body)

    assert response.status_code == 422
    run_jobs()
    db.session.expire_all()
    assert campaign.status == CampaignStatus.DRAFT
    assert smtp_server.received == []


def test_only_drafts_can_be_sent_or_changed(api, owner, news, run_jobs):
    campaign = make_campaign(owner.account_id, news.id)
    api.post(f"/api/v1/campaigns/{campaign.id}/send")

    again = api.post(f"/api/v1/campaigns/{campaign.id}/send")
    change = api.patch(f"/api/v1/campaigns/{campaign.id}", json={"subject": "Too late"})

    assert (again.status_code, change.status_code) == (409, 409)
    assert again.get_json()["error"]["code"] == "conflict"
    db.session.expire_all()
    assert campaign.subject == "Hello there"
