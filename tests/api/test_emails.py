"""The send log over the API: keyset pages without gaps, filters, one e-mail's attempts and timeline."""

from __future__ import annotations

import pytest

from tests.factories import add_subscribers, make_campaign, make_list


@pytest.fixture
def sent(api, owner, run_jobs, smtp_server):
    """A campaign sent for real to 120 confirmed subscribers, one of whom bounces."""
    mailing_list = make_list(owner.account_id)
    add_subscribers(owner.account_id, mailing_list.id, 120)
    smtp_server.handler.replies["user7@example.com"] = "550 5.1.1 <user7@example.com>: user unknown"
    campaign = make_campaign(owner.account_id, mailing_list.id)
    assert api.post(f"/api/v1/campaigns/{campaign.id}/send").status_code == 202
    run_jobs()
    return campaign


def test_paging_through_the_log_sees_every_email_once(api, sent):
    pages, cursor = [], None
    while True:
        response = api.get("/api/v1/emails?limit=50" + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200
        pages.append(response.get_json()["data"])
        cursor = response.get_json()["next_cursor"]
        if cursor is None:
            break

    assert [len(page) for page in pages] == [50, 50, 20]
    ids = [email["id"] for page in pages for email in page]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 120
    assert ids[0] - ids[-1] == 119  # no gaps: every id between first and last is there


def test_the_default_page_is_fifty(api, sent):
    body = api.get("/api/v1/emails").get_json()

    assert len(body["data"]) == 50
    assert body["next_cursor"] == str(body["data"][-1]["id"])


def test_filters(api, owner, sent, run_jobs):
    other_list = make_list(owner.account_id, "Other")
    api.post(f"/api/v1/lists/{other_list.id}/subscribers", json={"email": "pat@example.com", "status": "pending"})
    run_jobs()

    by_campaign = api.get(f"/api/v1/emails?campaign_id={sent.id}&limit=200").get_json()["data"]
    bounced = api.get("/api/v1/emails?status=bounced").get_json()["data"]
    delivered = api.get(f"/api/v1/emails?status=delivered&campaign_id={sent.id}&limit=200").get_json()["data"]
    one = api.get("/api/v1/emails?recipient=USER5@example.com").get_json()["data"]
    confirmation = api.get("/api/v1/emails?recipient=pat@example.com").get_json()["data"]
    blank = api.get("/api/v1/emails?campaign_id=&status=&recipient=&cursor=&limit=200").get_json()["data"]

    assert len(by_campaign) == 120 and {e["campaign_id"] for e in by_campaign} == {sent.id}
    assert [(e["recipient"], e["status"]) for e in bounced] == [("user7@example.com", "bounced")]
    assert "user unknown" in bounced[0]["reason"]
    assert len(delivered) == 119
    assert [e["recipient"] for e in one] == ["user5@example.com"]
    assert [(e["kind"], e["campaign_id"]) for e in confirmation] == [("confirmation", None)]
    assert len(blank) == 121


def test_an_unknown_status_filter_is_422(api):
    response = api.get("/api/v1/emails?status=lost")

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "status"


def test_one_email_shows_its_attempts_and_timeline(api, sent, smtp_server):
    listed = api.get("/api/v1/emails?recipient=user3@example.com").get_json()["data"][0]

    response = api.get(f"/api/v1/emails/{listed['id']}")

    assert response.status_code == 200
    email = response.get_json()
    assert {k: email[k] for k in listed} == listed
    assert (email["status"], email["kind"], email["attempt_count"]) == ("delivered", "campaign", 1)
    (received,) = smtp_server.to("user3@example.com")
    assert email["message_id"] == received.message["Message-ID"]
    (attempt,) = email["attempts"]
    assert (attempt["number"], attempt["smtp_code"], attempt["enhanced_code"], attempt["outcome"]) == (
        1,
        250,
        "2.0.0",
        "delivered",
    )
    assert attempt["provider"] and attempt["host"].startswith("127.0.0.1")
    assert attempt["duration_ms"] >= 0 and attempt["started_at"].endswith("+00:00")
    assert [event["type"] for event in email["events"]][0] == "queued"
    assert email["events"][-1]["type"] == "delivered"
    assert "250" in email["events"][-1]["detail"]


def test_a_bounce_shows_the_servers_reply(api, sent):
    bounced = api.get("/api/v1/emails?status=bounced").get_json()["data"][0]

    email = api.get(f"/api/v1/emails/{bounced['id']}").get_json()

    (attempt,) = email["attempts"]
    assert (attempt["smtp_code"], attempt["enhanced_code"], attempt["outcome"]) == (550, "5.1.1", "bounced")
    assert "user unknown" in attempt["response"]
    assert email["events"][-1]["type"] == "bounced"
