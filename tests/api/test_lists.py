"""Mailing lists over the API: create, read, page, change, delete."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import MailingList
from tests.factories import add_subscribers, make_campaign, make_list


def test_create_list(api):
    response = api.post("/api/v1/lists", json={"name": "News", "description": "Monthly", "double_opt_in": False})

    assert response.status_code == 201
    body = response.get_json()
    assert (body["name"], body["description"], body["double_opt_in"]) == ("News", "Monthly", False)
    assert body["subscribe_url"] == f"http://localhost/s/{body['public_id']}"
    assert body["counts"] == {"pending": 0, "confirmed": 0, "unsubscribed": 0}
    assert body["created_at"].endswith("+00:00")
    stored = db.session.get(MailingList, body["id"])
    assert (stored.name, stored.public_id, stored.double_opt_in) == ("News", body["public_id"], False)


def test_double_opt_in_is_the_default(api):
    assert api.post("/api/v1/lists", json={"name": "News"}).get_json()["double_opt_in"] is True


def test_get_list_with_counts(api, owner):
    mailing_list = make_list(owner.account_id)
    add_subscribers(owner.account_id, mailing_list.id, 2)
    add_subscribers(owner.account_id, mailing_list.id, 1, domain="p.example.com", status="pending")

    response = api.get(f"/api/v1/lists/{mailing_list.id}")

    assert response.status_code == 200
    assert response.get_json()["counts"] == {"pending": 1, "confirmed": 2, "unsubscribed": 0}


def test_lists_are_paged_newest_first(api, owner):
    ids = [make_list(owner.account_id, f"List {i}").id for i in range(5)]

    first = api.get("/api/v1/lists?limit=2").get_json()
    second = api.get(f"/api/v1/lists?limit=2&cursor={first['next_cursor']}").get_json()
    third = api.get(f"/api/v1/lists?limit=2&cursor={second['next_cursor']}").get_json()

    seen = [item["id"] for page in (first, second, third) for item in page["data"]]
    assert seen == sorted(ids, reverse=True)
    assert third["next_cursor"] is None


def test_default_page_is_everything_up_to_fifty(api, owner):
    make_list(owner.account_id)

    body = api.get("/api/v1/lists").get_json()

    assert len(body["data"]) == 1 and body["next_cursor"] is None


def test_update_list_changes_only_what_is_given(api, owner):
    mailing_list = make_list(owner.account_id, "Old")

    response = api.patch(f"/api/v1/lists/{mailing_list.id}", json={"description": "New words", "double_opt_in": False})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["description"], body["double_opt_in"]) == ("Old", "New words", False)


def test_invalid_update_changes_nothing(api, owner):
    mailing_list = make_list(owner.account_id, "Old")

    for body in ({"name": ""}, {"name": "x" * 201}, {"nmae": "typo"}, {"double_opt_in": "no"}):
        response = api.patch(f"/api/v1/lists/{mailing_list.id}", json=body)
        assert response.status_code == 422, body

    db.session.expire_all()
    assert (mailing_list.name, mailing_list.double_opt_in) == ("Old", True)


def test_delete_list(api, owner):
    mailing_list = make_list(owner.account_id)
    add_subscribers(owner.account_id, mailing_list.id, 2)

    response = api.delete(f"/api/v1/lists/{mailing_list.id}")

    assert response.status_code == 204
    assert response.data == b""
    assert db.session.scalar(sa.select(sa.func.count(MailingList.id))) == 0
    assert api.get(f"/api/v1/lists/{mailing_list.id}").status_code == 404


def test_a_list_with_campaigns_cannot_be_deleted(api, owner):
    mailing_list = make_list(owner.account_id)
    make_campaign(owner.account_id, mailing_list.id)

    response = api.delete(f"/api/v1/lists/{mailing_list.id}")

    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert db.session.get(MailingList, mailing_list.id) is not None
