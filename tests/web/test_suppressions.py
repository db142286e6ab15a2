"""The suppression pages: list, filter, add, remove and import, through real forms with CSRF."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Suppression, SuppressionReason
from app.services import suppressions
from tests.conftest import PASSWORD, csrf_token


@pytest.fixture
def owner(app, make_user, auth):
    user = make_user()
    auth.login()
    return user


def stored(account_id: int) -> dict[str, Suppression]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Suppression).where(Suppression.account_id == account_id))
    return {row.email: row for row in rows}


def post_form(client, url: str, data: dict, page: str = "/suppressions", **kwargs):
    token = csrf_token(client.get(page).text)
    return client.post(url, data={"csrf_token": token, **data}, **kwargs)


def test_pages_need_login(client):
    for url in ("/suppressions", "/suppressions/import"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_empty_list_explains_suppressions(client, owner):
    page = client.get("/suppressions")

    assert page.status_code == 200
    assert "Your suppression list is empty" in page.text
    assert "receive no campaign e-mail" in page.text
    assert 'aria-current="page">Suppressions</a>' in page.text


def test_add_an_address(client, owner):
    response = post_form(
        client, "/suppressions", {"email": "Someone@Example.com", "reason": "complaint", "detail": "called us"}
    )

    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert "someone@example.com is suppressed" in page.text
    assert "badge-complaint" in page.text and "called us" in page.text
    row = stored(owner.account_id)["someone@example.com"]
    assert (row.reason, row.detail, row.expires_at) == (SuppressionReason.COMPLAINT, "called us", None)


def test_add_with_an_expiry_date(client, owner):
    day = date.today() + timedelta(days=10)

    post_form(client, "/suppressions", {"email": "a@example.com", "expires_on": day.isoformat()})

    row = stored(owner.account_id)["a@example.com"]
    assert row.expires_at == datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert row.reason == SuppressionReason.MANUAL
    assert day.isoformat() in client.get("/suppressions").text


@pytest.mark.parametrize(
    "data,message",
    [
        ({"email": ""}, "Enter an e-mail address."),
        ({"email": "not-an-address"}, "email is not a valid e-mail address"),
        ({"email": "a@example.com", "reason": "spam"}, "Not a valid choice"),
        ({"email": "a@example.com", "expires_on": "2001-01-01"}, "is in the past"),
        ({"email": "a@example.com", "expires_on": "soon"}, "Not a valid date value"),
    ],
)
def test_bad_input_comes_back_with_a_clear_error(client, owner, data, message):
    response = post_form(client, "/suppressions", data)

    assert response.status_code == 200
    assert message in response.text
    assert 'class="field has-error"' in response.text
    assert stored(owner.account_id) == {}


def test_adding_a_suppressed_address_again_says_so(client, owner):
    suppressions.add(owner.account_id, "a@example.com", "hard_bounce")

    response = post_form(client, "/suppressions", {"email": "A@example.com"})

    assert response.status_code == 200
    assert "a@example.com is already on the suppression list (hard_bounce" in response.text
    assert stored(owner.account_id)["a@example.com"].reason == SuppressionReason.HARD_BOUNCE


def test_adding_without_csrf_token_is_refused(client, owner):
    response = client.post("/suppressions", data={"email": "a@example.com"})

    assert response.status_code == 400
    assert stored(owner.account_id) == {}


def test_remove_an_address(client, owner):
    row = suppressions.add(owner.account_id, "a@example.com")
    suppressions.add(owner.account_id, "b@example.com", "complaint")

    response = post_form(client, f"/suppressions/{row.id}/delete?reason=manual", {})

    assert response.status_code == 302
    assert response.headers["Location"] == "/suppressions?reason=manual"
    assert "a@example.com removed from the suppression list" in client.get("/suppressions").text
    assert list(stored(owner.account_id)) == ["b@example.com"]


def test_another_accounts_suppression_is_not_found_and_not_removed(client, owner, make_user):
    other = make_user("victim@example.com")
    theirs = suppressions.add(other.account_id, "secret@example.com", "complaint")

    response = post_form(client, f"/suppressions/{theirs.id}/delete", {})

    assert response.status_code == 404
    assert "secret@example.com" not in response.text
    assert list(stored(other.account_id)) == ["secret@example.com"]
    assert "secret@example.com" not in client.get("/suppressions").text
    assert "secret@example.com" not in client.get("/suppressions?q=secret").text


def test_removing_twice_is_a_404(client, owner):
    row = suppressions.add(owner.account_id, "a@example.com")
    post_form(client, f"/suppressions/{row.id}/delete", {})

    assert post_form(client, f"/suppressions/{row.id}/delete", {}).status_code == 404


def test_filters_by_reason_and_address(client, owner):
    suppressions.add(owner.account_id, "bounced@example.com", "hard_bounce")
    suppressions.add(owner.account_id, "angry@example.org", "complaint")
    suppressions.add(owner.account_id, "left@example.com", "unsubscribe")

    by_reason = client.get("/suppressions?reason=complaint").text
    assert "angry@example.org" in by_reason and "bounced@example.com" not in by_reason
    assert '<option value="complaint" selected>Complaint (1)</option>' in by_reason
    by_address = client.get("/suppressions?q=EXAMPLE.COM").text
    assert "bounced@example.com" in by_address and "left@example.com" in by_address
    assert "angry@example.org" not in by_address
    both = client.get("/suppressions?reason=unsubscribe&q=left").text
    assert "left@example.com" in both and "bounced@example.com" not in both
    nothing = client.get("/suppressions?q=nobody").text
    assert "No suppressions match these filters." in nothing
    assert "bounced@example.com" in client.get("/suppressions?reason=bogus").text  # ignored, not an error


def test_expired_rows_are_marked(client, owner):
    row = suppressions.add(owner.account_id, "lapsed@example.com", expires_at=datetime(2999, 1, 1, tzinfo=UTC))
    row.expires_at = datetime(2001, 1, 1, tzinfo=UTC)
    db.session.commit()

    page = client.get("/suppressions").text

    assert 'class="expired"' in page and "badge-expired" in page


def test_keyset_pagination(client, owner):
    suppressions.import_csv(owner.account_id, "".join(f"user{i:02}@example.com\n" for i in range(60)))

    first = client.get("/suppressions").text
    assert "user59@example.com" in first and "user10@example.com" in first
    assert "user09@example.com" not in first
    older = re.search(r'href="([^"]+)">Older →', first).group(1)
    assert older.startswith("/suppressions?before=")
    second = client.get(older).text
    assert "user09@example.com" in second and "user00@example.com" in second
    assert "user10@example.com" not in second and "Older →" not in second and "← Newest" in second


def test_import_pasted_addresses(client, owner):
    suppressions.add(owner.account_id, "old@example.com")
    pasted = "new@example.com\r\nNEW@example.com\r\nold@example.com\r\nnonsense\r\n\r\nsecond@example.com"

    response = post_form(
        client,
        "/suppressions/import",
        {"addresses": pasted, "reason": "unsubscribe"},
        page="/suppressions/import",
    )

    assert response.status_code == 200
    text = response.text
    assert "Import finished: 2 added, 2 already suppressed, 1 line(s) rejected." in text
    assert '<span class="count">2</span> added' in text
    assert "<td>4</td>" in text and "nonsense" in text and "<td>Not a valid e-mail address: " in text
    rows = stored(owner.account_id)
    assert sorted(rows) == ["new@example.com", "old@example.com", "second@example.com"]
    assert rows["new@example.com"].reason == SuppressionReason.UNSUBSCRIBE
    assert rows["old@example.com"].reason == SuppressionReason.MANUAL


def test_import_a_csv_file(client, owner):
    data = b"Name,EMAIL\r\nAlice,alice@example.com\r\nBob,bob@example\r\n,\r\nCarol,carol@example.com\r\n"

    response = post_form(
        client,
        "/suppressions/import",
        {"file": (io.BytesIO(data), "export.csv"), "reason": "hard_bounce"},
        page="/suppressions/import",
        content_type="multipart/form-data",
    )

    assert response.status_code == 200
    assert "Import finished: 2 added, 0 already suppressed, 2 line(s) rejected." in response.text
    assert "<td>3</td>" in response.text and "<td>4</td>" in response.text
    rows = stored(owner.account_id)
    assert sorted(rows) == ["alice@example.com", "carol@example.com"]
    assert {r.reason for r in rows.values()} == {SuppressionReason.HARD_BOUNCE}


@pytest.mark.parametrize(
    "data,message",
    [
        ({}, "Choose a file or paste addresses."),
        ({"addresses": "   "}, "Choose a file or paste addresses."),
        (
            {"addresses": "a@example.com", "file": (io.BytesIO(b"b@example.com"), "x.csv")},
            "Choose a file or paste addresses, not both.",
        ),
        ({"addresses": "a@example.com", "reason": "spam"}, "Not a valid choice"),
    ],
)
def test_import_needs_one_source_and_a_known_reason(client, owner, data, message):
    response = post_form(
        client, "/suppressions/import", data, page="/suppressions/import", content_type="multipart/form-data"
    )

    assert response.status_code == 200
    assert message in response.text
    assert stored(owner.account_id) == {}


def test_the_list_shows_only_the_own_account(client, auth, make_user):
    victim = make_user("victim@example.com")
    suppressions.add(victim.account_id, "secret@example.com")
    make_user("intruder@example.com")
    auth.login("intruder@example.com", PASSWORD)

    page = client.get("/suppressions").text

    assert "secret@example.com" not in page and "Your suppression list is empty" in page


def test_import_a_large_upload_spooled_to_disk(client, owner):
    """Werkzeug keeps uploads over 500 KB in a temporary file; the import reads it line by line."""
    data = b"email\n" + b"".join(b"someone.with.a.longish.name%05d@example.com\n" % i for i in range(15_000))
    assert len(data) > 600_000

    response = post_form(
        client,
        "/suppressions/import",
        {"file": (io.BytesIO(data), "big.csv")},
        page="/suppressions/import",
        content_type="multipart/form-data",
    )

    assert "Import finished: 15000 added, 0 already suppressed." in response.text
    assert suppressions.counts(owner.account_id)["manual"] == 15_000
