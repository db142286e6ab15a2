"""Campaign lifecycle over the API: pause, resume, cancel."""

from __future__ import annotations

from tests.factories import add_subscribers, make_list


def test_pause_resume_cancel(app, api, run_jobs, smtp_server):
    from app.extensions import db
    from app.models import User

    owner = db.session.query(User).filter_by(email="owner@example.com").one()
    mailing_list = make_list(owner.account_id)
    add_subscribers(owner.account_id, mailing_list.id, 3)
    created = api.post(
        "/api/v1/campaigns",
        json={"list_id": mailing_list.id, "subject": "Hi", "from_email": "news@example.com", "text": "Hello"},
    ).get_json()
    cid = created["id"]
    assert api.post(f"/api/v1/campaigns/{cid}/pause").status_code == 409  # a draft is not sending
    assert api.post(f"/api/v1/campaigns/{cid}/send", json={}).status_code == 202
    paused = api.post(f"/api/v1/campaigns/{cid}/pause")
    assert paused.status_code == 200 and paused.get_json()["status"] == "paused"
    run_jobs()
    assert smtp_server.received == []
    resumed = api.post(f"/api/v1/campaigns/{cid}/resume")
    assert resumed.status_code == 202 and resumed.get_json()["status"] == "sending"
    run_jobs()
    assert api.get(f"/api/v1/campaigns/{cid}").get_json()["stats"]["delivered"] == 3
    conflict = api.post(f"/api/v1/campaigns/{cid}/cancel")
    assert conflict.status_code == 409 and conflict.get_json()["error"]["code"] == "conflict"
