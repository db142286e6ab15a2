"""Pause, resume, cancel and schedule from the campaign page."""

from __future__ import annotations

from app.models import CampaignStatus
from app.services import campaigns
from tests.conftest import csrf_token
from tests.factories import add_subscribers, make_campaign, make_list


def _post(client, campaign_id, action, **data):
    page = client.get(f"/campaigns/{campaign_id}")
    return client.post(
        f"/campaigns/{campaign_id}/{action}", data={"csrf_token": csrf_token(page.text), **data}, follow_redirects=True
    )


def test_lifecycle_buttons(app, client, auth, make_user, run_jobs, smtp_server):
    user = make_user()
    auth.login()
    mailing_list = make_list(user.account_id)
    add_subscribers(user.account_id, mailing_list.id, 3)
    campaign = make_campaign(user.account_id, mailing_list.id)

    assert "Cancel campaign" in client.get(f"/campaigns/{campaign.id}").text
    assert "is sending" in _post(client, campaign.id, "send").text
    assert "Paused" in _post(client, campaign.id, "pause").text
    assert campaigns.get(user.account_id, campaign.id).status == CampaignStatus.PAUSED
    page = _post(client, campaign.id, "pause")
    assert "cannot be paused" in page.text
    assert "Resumed" in _post(client, campaign.id, "resume").text
    run_jobs()
    assert len(smtp_server.received) == 3
    assert "finished" in client.get(f"/campaigns/{campaign.id}").text
    assert "cannot be cancelled" in _post(client, campaign.id, "cancel").text


def test_schedule_from_the_page(app, client, auth, make_user):
    user = make_user()
    auth.login()
    mailing_list = make_list(user.account_id)
    campaign = make_campaign(user.account_id, mailing_list.id)
    page = _post(client, campaign.id, "send", send_at="2099-01-01T09:30")
    assert "scheduled for 2099-01-01 09:30 UTC" in page.text
    assert campaigns.get(user.account_id, campaign.id).status == CampaignStatus.SCHEDULED
    other = make_campaign(user.account_id, mailing_list.id)
    assert "must look like" in _post(client, other.id, "send", send_at="next tuesday").text
    assert campaigns.get(user.account_id, other.id).status == CampaignStatus.DRAFT
    assert "Cancelled" in _post(client, campaign.id, "cancel").text
