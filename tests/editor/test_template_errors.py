"""Template errors are shown before anything is sent: on save, and again on send (dashboard and API)."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import Campaign, CampaignStatus, SentEmail
from app.services import campaigns
from tests.conftest import csrf_token
from tests.editor.conftest import set_attributes


def _form(audience, **overrides) -> dict:
    data = {
        "list_id": str(audience["list"].id),
        "subject": "Hello",
        "from_email": "news@example.com",
        "from_name": "News",
        "body_format": "markdown",
        "body": "Hi {{ subscriber.name }}",
    }
    data.update(overrides)
    return data


def _campaign_count() -> int:
    return db.session.scalar(sa.select(sa.func.count(Campaign.id)))


def test_saving_a_misspelt_variable_shows_the_error_with_its_line(client, auth, audience):
    auth.login()
    token = csrf_token(client.get("/campaigns/new").text)
    body = "Hello,\n\nyour plan is {{ subscriber.atributes.plan }}."
    page = client.post("/campaigns/new", data={"csrf_token": token, **_form(audience, body=body)})
    assert page.status_code == 200
    assert "the body has a template error on line 3" in page.text
    assert "subscriber has no &#39;atributes&#39;" in page.text
    assert _campaign_count() == 0


def test_saving_a_syntax_error_in_the_subject_shows_it_on_the_subject(client, auth, audience):
    auth.login()
    token = csrf_token(client.get("/campaigns/new").text)
    page = client.post("/campaigns/new", data={"csrf_token": token, **_form(audience, subject="Hi {{ subscriber.name")})
    assert "the subject has a template error on line 1" in page.text
    assert _campaign_count() == 0


def test_editing_a_draft_into_an_error_changes_nothing(client, auth, audience):
    auth.login()
    campaign = campaigns.create(audience["user"].account_id, _form(audience))
    token = csrf_token(client.get(f"/campaigns/{campaign.id}/edit").text)
    page = client.post(f"/campaigns/{campaign.id}/edit", data={"csrf_token": token, **_form(audience, body="{% if %}")})
    assert "template error on line 1" in page.text
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).body == "Hi {{ subscriber.name }}"


def test_api_create_and_update_refuse_a_template_error(api, audience):
    base = {"list_id": audience["list"].id, "subject": "Hi", "from_email": "news@example.com"}
    response = api.post("/api/v1/campaigns", json={**base, "body": "{{ config.SECRET_KEY }}"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == "body" and "'config' is not a variable" in error["message"]
    response = api.post("/api/v1/campaigns", json={**base, "html": "<p>{{ subscriber.name }</p>"})
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "html"
    created = api.post("/api/v1/campaigns", json={**base, "html": "<p>Hi {{ subscriber.name }}</p>"})
    assert created.status_code == 201
    response = api.patch(f"/api/v1/campaigns/{created.get_json()['id']}", json={"subject": "{{ lisst.name }}"})
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "subject"
    assert api.get(f"/api/v1/campaigns/{created.get_json()['id']}").get_json()["subject"] == "Hi"


def _broken_draft(audience) -> Campaign:
    """A draft saved before templates were checked: its body names a variable that does not exist."""
    campaign = campaigns.create(audience["user"].account_id, _form(audience))
    db.session.execute(
        sa.update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(body="Hi {{ subscriber.nickname }}", html="<p>Hi {{ subscriber.nickname }}</p>", text="Hi")
    )
    db.session.commit()
    return campaign


def _rows() -> int:
    return db.session.scalar(sa.select(sa.func.count(SentEmail.id)))


def test_dashboard_send_is_refused_for_a_template_that_does_not_render(client, auth, audience, run_jobs):
    auth.login()
    campaign = _broken_draft(audience)
    token = csrf_token(client.get(f"/campaigns/{campaign.id}").text)
    page = client.post(f"/campaigns/{campaign.id}/send", data={"csrf_token": token}, follow_redirects=True)
    assert "subscriber has no &#39;nickname&#39;" in page.text
    run_jobs()
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT and _rows() == 0


def test_scheduling_is_refused_too(client, auth, audience):
    auth.login()
    campaign = _broken_draft(audience)
    token = csrf_token(client.get(f"/campaigns/{campaign.id}").text)
    client.post(f"/campaigns/{campaign.id}/send", data={"csrf_token": token, "send_at": "2099-01-01T09:00"})
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).status == CampaignStatus.DRAFT


def test_api_send_is_refused_for_a_template_that_does_not_render(api, audience, run_jobs):
    campaign = _broken_draft(audience)
    response = api.post(f"/api/v1/campaigns/{campaign.id}/send", json={})
    assert response.status_code == 422
    assert "nickname" in response.get_json()["error"]["message"]
    run_jobs()
    assert api.get(f"/api/v1/campaigns/{campaign.id}").get_json()["status"] == "draft" and _rows() == 0


def test_send_renders_for_the_lists_first_subscriber_and_says_so(api, audience):
    body = "Per seat: {{ 100 / subscriber.attributes.seats | default(1) }}"
    campaign = campaigns.create(audience["user"].account_id, _form(audience, body=body))  # the sample renders
    set_attributes(audience["subscribers"][0].id, {"seats": 0})  # the first real subscriber does not
    response = api.post(f"/api/v1/campaigns/{campaign.id}/send", json={})
    assert response.status_code == 422
    message = response.get_json()["error"]["message"]
    assert "division by zero" in message and "user0@example.com" in message and "on line 1" in message
    set_attributes(audience["subscribers"][0].id, {"seats": 4})
    assert api.post(f"/api/v1/campaigns/{campaign.id}/send", json={}).status_code == 202
