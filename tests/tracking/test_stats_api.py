"""GET /api/v1/campaigns/{id}/stats, checked against the OpenAPI document."""

from __future__ import annotations

import pytest

from app.services import accounts
from tests.api.conftest import DocumentedClient
from tests.factories import make_campaign, make_list
from tests.tracking.test_machine import GOOGLEBOT
from tests.tracking.test_routes import _get


@pytest.fixture
def documented(app, client, send_campaign):
    """Sends a campaign first (as owner@example.com), then answers a client with that user's token."""

    def make():
        sent = send_campaign(count=3)
        return sent, DocumentedClient(app, client, accounts.create_token("owner@example.com"))

    return make


def test_stats_count_people_and_machines_apart(client, documented, run_jobs):
    sent, api = documented()
    first, second, third = sorted(sent.html)
    news, shop, _ = sent.links(first)
    for _ in range(2):
        _get(client, sent.pixel(first))
    _get(client, sent.pixel(second))
    _get(client, sent.pixel(third), agent="Mozilla/5.0", address="17.1.2.3")  # Apple's proxy
    _get(client, shop)
    _get(client, sent.links(second)[1])
    _get(client, sent.links(third)[0], agent=GOOGLEBOT)
    run_jobs()

    response = api.get(f"/api/v1/campaigns/{sent.campaign.id}/stats")

    assert response.status_code == 200
    stats = response.get_json()
    assert stats["campaign_id"] == sent.campaign.id and stats["status"] == "finished"
    assert stats["tracking"] == {"opens": True, "clicks": True}
    assert stats["statuses"]["delivered"] == 3 and stats["statuses"]["total"] == 3
    assert stats["opens"] == {"human": {"total": 3, "unique": 2}, "machine": {"total": 1, "unique": 1}}
    assert stats["clicks"] == {"human": {"total": 2, "unique": 2}, "machine": {"total": 1, "unique": 1}}
    assert stats["open_rate"] == pytest.approx(2 / 3) and stats["click_rate"] == pytest.approx(2 / 3)
    by_url = {link["url"]: link for link in stats["links"]}
    assert [link["position"] for link in stats["links"]] == [0, 1]
    assert by_url["http://example.org/shop"]["human"] == {"total": 2, "unique": 2}
    assert by_url["https://example.com/news?a=1&b=2"]["machine"] == {"total": 1, "unique": 1}
    points = stats["timeline"]["points"]
    assert sum(p["delivered"] for p in points) == 3
    assert sum(p["opened"] for p in points) == 3 and sum(p["machine_opened"] for p in points) == 1
    assert sum(p["clicked"] for p in points) == 2 and sum(p["machine_clicked"] for p in points) == 1
    assert news  # the first link was clicked by the bot only (through the third recipient)


def test_a_draft_has_no_timeline_yet(app, client, make_user):
    user = make_user()
    draft = make_campaign(user.account_id, make_list(user.account_id).id)
    api = DocumentedClient(app, client, accounts.create_token("owner@example.com"))

    stats = api.get(f"/api/v1/campaigns/{draft.id}/stats").get_json()

    assert stats["timeline"] is None and stats["opens"]["human"] == {"total": 0, "unique": 0}
    assert stats["open_rate"] is None and stats["links"] == []


def test_stats_need_a_token_and_your_own_campaign(app, client, documented, make_user):
    sent, api = documented()
    anon = DocumentedClient(app, client)

    assert anon.get(f"/api/v1/campaigns/{sent.campaign.id}/stats").status_code == 401
    make_user("other@example.com")
    other = DocumentedClient(app, client, accounts.create_token("other@example.com"))
    response = other.get(f"/api/v1/campaigns/{sent.campaign.id}/stats")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert api.get("/api/v1/campaigns/999999/stats").status_code == 404
