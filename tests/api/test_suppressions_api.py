"""The suppression list over the API: page and filter, suppress (201, or 200 when already), remove."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Suppression, SuppressionReason
from app.models.base import utcnow
from app.services import suppressions
from tests.factories import add_subscribers, make_campaign, make_list


def stored(account_id: int) -> dict[str, Suppression]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Suppression).where(Suppression.account_id == account_id))
    return {row.email: row for row in rows}


def test_suppress_an_address(api, owner):
    response = api.post("/api/v1/suppressions", json={"email": " Someone@Example.COM ", "detail": "asked by phone"})

    assert response.status_code == 201
    body = response.get_json()
    assert (body["email"], body["reason"], body["detail"], body["expires_at"]) == (
        "someone@example.com",
        "manual",
        "asked by phone",
        None,
    )
    assert datetime.fromisoformat(body["created_at"]) > utcnow() - timedelta(minutes=1)
    row = stored(owner.account_id)["someone@example.com"]
    assert (row.id, row.reason) == (body["id"], SuppressionReason.MANUAL)


@pytest.mark.parametrize("reason", ["manual", "hard_bounce", "complaint", "unsubscribe"])
def test_every_reason_is_accepted(api, owner, reason):
    response = api.post("/api/v1/suppressions", json={"email": "a@example.com", "reason": reason})

    assert response.status_code == 201
    assert stored(owner.account_id)["a@example.com"].reason.value == reason


def test_an_expiry_is_kept(api, owner):
    when = (utcnow() + timedelta(days=30)).replace(microsecond=0)

    response = api.post("/api/v1/suppressions", json={"email": "a@example.com", "expires_at": when.isoformat()})

    assert response.status_code == 201
    assert datetime.fromisoformat(response.get_json()["expires_at"]) == when
    assert stored(owner.account_id)["a@example.com"].expires_at == when


def test_suppressing_again_answers_200_with_the_row_unchanged(api, owner):
    first = api.post("/api/v1/suppressions", json={"email": "a@example.com", "reason": "complaint"}).get_json()

    again = api.post("/api/v1/suppressions", json={"email": "A@example.com", "reason": "manual"})

    assert again.status_code == 200
    assert again.get_json() == first
    assert stored(owner.account_id)["a@example.com"].reason == SuppressionReason.COMPLAINT
    assert len(stored(owner.account_id)) == 1


def test_suppressing_an_expired_address_renews_it(api, owner):
    row = suppressions.add(owner.account_id, "a@example.com", "complaint", expires_at=utcnow() + timedelta(days=1))
    row.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()

    response = api.post("/api/v1/suppressions", json={"email": "a@example.com", "reason": "hard_bounce"})

    assert response.status_code == 201
    assert (response.get_json()["reason"], response.get_json()["expires_at"]) == ("hard_bounce", None)
    assert suppressions.active(owner.account_id, "a@example.com")


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({}, "email", "email: Field required"),
        ({"email": "not an address"}, "email", "email is not a valid e-mail address"),
        ({"email": "a@example.com", "reason": "annoying"}, "reason", "reason: Input should be 'hard_bounce'"),
        ({"email": "a@example.com", "expires_at": "2030-01-01T00:00:00"}, "expires_at", "timezone info"),
        ({"email": "a@example.com", "expires_at": "2001-01-01T00:00:00+00:00"}, "expires_at", "in the past"),
        ({"email": "a@example.com", "colour": "red"}, "colour", "colour: unknown field"),
        ({"email": "a@example.com", "detail": "x" * 1025}, "detail", "longer than 1024 characters"),
        ({"email": 5}, "email", "email: Input should be a valid string"),
    ],
)
def test_invalid_input_is_a_clear_422(api, owner, body, field, text):
    response = api.post("/api/v1/suppressions", json=body)

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)
    assert text in error["message"]
    assert stored(owner.account_id) == {}


def test_the_list_is_paged_newest_first(api, owner):
    for i in range(5):
        suppressions.add(owner.account_id, f"user{i}@example.com")

    first = api.get("/api/v1/suppressions?limit=2").get_json()
    second = api.get(f"/api/v1/suppressions?limit=2&cursor={first['next_cursor']}").get_json()
    third = api.get(f"/api/v1/suppressions?limit=2&cursor={second['next_cursor']}").get_json()

    seen = [item["email"] for page in (first, second, third) for item in page["data"]]
    assert seen == [f"user{i}@example.com" for i in reversed(range(5))]
    assert third["next_cursor"] is None


def test_the_list_filters_by_reason_and_address(api, owner):
    suppressions.add(owner.account_id, "bounced@example.com", "hard_bounce")
    suppressions.add(owner.account_id, "angry@example.com", "complaint")
    suppressions.add(owner.account_id, "angry@elsewhere.org", "complaint")

    by_reason = api.get("/api/v1/suppressions?reason=complaint").get_json()["data"]
    by_address = api.get("/api/v1/suppressions?email=EXAMPLE.com").get_json()["data"]
    both = api.get("/api/v1/suppressions?reason=complaint&email=elsewhere").get_json()["data"]

    assert [row["email"] for row in by_reason] == ["angry@elsewhere.org", "angry@example.com"]
    assert [row["email"] for row in by_address] == ["angry@example.com", "bounced@example.com"]
    assert [row["email"] for row in both] == ["angry@elsewhere.org"]


def test_an_unknown_reason_filter_is_a_422(api):
    response = api.get("/api/v1/suppressions?reason=annoying")

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "reason"


@pytest.mark.parametrize("address", ["a@example.com", "A@Example.com", "o'neil+tag/x@example.com"])
def test_remove_an_address_by_its_url_encoded_form(api, owner, address):
    suppressions.add(owner.account_id, address)
    suppressions.add(owner.account_id, "kept@example.com")

    response = api.delete(f"/api/v1/suppressions/{quote(address, safe='')}")

    assert response.status_code == 204
    assert response.data == b""
    assert list(stored(owner.account_id)) == ["kept@example.com"]


def test_removing_an_address_not_on_the_list_is_404(api, owner):
    suppressions.add(owner.account_id, "kept@example.com")

    response = api.delete("/api/v1/suppressions/nobody%40example.com")

    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == "nobody@example.com is not on the suppression list"
    assert list(stored(owner.account_id)) == ["kept@example.com"]


def test_a_suppressed_address_gets_no_campaign_mail(api, owner, run_jobs, smtp_server):
    """The end-to-end point of the list: the engine skips what the API suppressed."""
    mailing_list = make_list(owner.account_id)
    add_subscribers(owner.account_id, mailing_list.id, 2)
    api.post("/api/v1/suppressions", json={"email": "user0@example.com"})
    campaign = make_campaign(owner.account_id, mailing_list.id)

    assert api.post(f"/api/v1/campaigns/{campaign.id}/send").status_code == 202
    run_jobs()

    recipients = {rcpt for message in smtp_server.received for rcpt in message.rcpt_tos}
    assert recipients == {"user1@example.com"}


def test_an_expiry_in_another_timezone_is_stored_in_utc(api, owner):
    response = api.post(
        "/api/v1/suppressions", json={"email": "a@example.com", "expires_at": "2099-06-01T12:00:00+02:00"}
    )

    assert response.status_code == 201
    assert response.get_json()["expires_at"] == "2099-06-01T10:00:00+00:00"
    assert stored(owner.account_id)["a@example.com"].expires_at == datetime(2099, 6, 1, 10, tzinfo=UTC)


def test_a_form_encoded_body_is_a_400_that_says_to_send_json(api, owner):
    response = api.post("/api/v1/suppressions", data={"email": "a@example.com"})

    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "malformed_json"
    assert "(sent as application/x-www-form-urlencoded; send JSON)" in error["message"]
    assert stored(owner.account_id) == {}


def test_json_sent_without_its_content_type_is_accepted(api, owner):
    response = api.post("/api/v1/suppressions", data='{"email": "a@example.com"}', content_type="text/plain")

    assert response.status_code == 201
    assert list(stored(owner.account_id)) == ["a@example.com"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("get", "/api/v1/suppressions?cursor=99999999999999999999", None, 422, "cursor"),
        ("get", "/api/v1/suppressions?email=a%00b", None, 422, "email"),
        ("post", "/api/v1/suppressions", {"email": "a@example.com", "detail": "a\x00b"}, 422, "detail"),
        ("delete", "/api/v1/suppressions/a%00b%40example.com", None, 404, None),
        ("get", "/api/v1/lists/99999999999999999999", None, 404, None),
    ],
)
def test_values_no_column_holds_are_refused_before_the_database(api, owner, method, path, body, status, field):
    """PostgreSQL refuses NUL in text and SQLite overflows past 64 bits: both would be a 500."""
    response = getattr(api, method)(path, json=body)

    assert response.status_code == status
    assert response.get_json()["error"]["field"] == field
    assert stored(owner.account_id) == {}
