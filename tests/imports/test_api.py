"""The import and export API: upload as text/csv or multipart, progress, row errors, export.

Every answer is checked against the served OpenAPI document (``DocumentedClient``).
"""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import SubscriberImport
from app.services import accounts, imports, subscribers
from tests.api.conftest import DocumentedClient
from tests.factories import make_list
from tests.imports.conftest import members

CSV = "email,name\nann@example.com,Ann\nbob@example.com,Bob\nnot-an-address,X\n=cmd@example.com,=HYPERLINK(1)\n"


@pytest.fixture
def api(app, client, owner):
    return DocumentedClient(app, client, accounts.create_token(owner.email))


@pytest.fixture
def anon(app, client):
    return DocumentedClient(app, client)


def post_csv(api, list_id: int, data: bytes | str, query: str = "", **kwargs):
    return api.post(f"/api/v1/lists/{list_id}/imports{query}", data=data, content_type="text/csv", **kwargs)


def test_a_csv_body_is_imported_in_the_background(api, mailing_list, run_jobs):
    response = post_csv(api, mailing_list.id, CSV, "?filename=from-crm.csv")

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending"
    assert (body["filename"], body["list_id"], body["subscriber_status"]) == (
        "from-crm.csv",
        mailing_list.id,
        "confirmed",
    )
    assert (body["total_bytes"], body["processed_bytes"], body["percent"], body["rows_seen"]) == (len(CSV), 0, 0, 0)

    run_jobs()
    done = api.get(f"/api/v1/imports/{body['id']}").get_json()

    assert done["status"] == "done"
    assert done["percent"] == 100 and done["processed_bytes"] == len(CSV)
    assert {k: done[k] for k in ("rows_seen", "added", "already_on_list", "invalid", "duplicates")} == {
        "rows_seen": 4,
        "added": 3,
        "already_on_list": 0,
        "invalid": 1,
        "duplicates": 0,
    }
    assert done["started_at"] and done["finished_at"]
    assert set(members(mailing_list.id)) == {"ann@example.com", "bob@example.com", "=cmd@example.com"}


def test_a_multipart_file_is_imported_as_pending(api, mailing_list, run_jobs, smtp_server):
    response = api.post(
        f"/api/v1/lists/{mailing_list.id}/imports?status=pending",
        data={"file": (io.BytesIO(CSV.encode()), "people.csv")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 202
    assert (response.get_json()["filename"], response.get_json()["subscriber_status"]) == ("people.csv", "pending")
    run_jobs()
    run_jobs()  # the confirmation e-mails
    assert {status for _, status in members(mailing_list.id).values()} == {"pending"}
    assert len(smtp_server.received) == 3


def test_the_row_errors_download_as_csv(api, mailing_list, run_jobs):
    import_id = post_csv(api, mailing_list.id, CSV + ",nobody\n").get_json()["id"]
    run_jobs()

    response = api.get(f"/api/v1/imports/{import_id}/errors")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert f'filename="import-{import_id}-errors.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["line", "value", "message"]
    assert [row[:2] for row in rows[1:]] == [["4", "not-an-address"], ["6", ",nobody"]]
    assert rows[1][2].startswith("Email is not a valid e-mail address")


def test_a_lists_imports_newest_first_with_a_cursor(api, mailing_list, run_jobs):
    ids = [post_csv(api, mailing_list.id, CSV).get_json()["id"] for _ in range(3)]
    run_jobs()

    first = api.get(f"/api/v1/lists/{mailing_list.id}/imports?limit=2").get_json()
    rest = api.get(f"/api/v1/lists/{mailing_list.id}/imports?limit=2&cursor={first['next_cursor']}").get_json()

    assert [item["id"] for item in first["data"]] == ids[::-1][:2]
    assert [item["id"] for item in rest["data"]] == ids[:1] and rest["next_cursor"] is None
    assert [item["already_on_list"] for item in first["data"]] == [3, 3]  # re-uploads add nothing


def test_the_export_is_csv_with_formulas_defused(api, owner, mailing_list, run_jobs):
    post_csv(api, mailing_list.id, CSV)
    run_jobs()
    subscriber = next(s for s in subscribers_of(owner, mailing_list) if s.email == "bob@example.com")
    subscribers.update(owner.account_id, subscriber.id, status="unsubscribed")

    response = api.get(f"/api/v1/lists/{mailing_list.id}/export")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    only_confirmed = api.get(f"/api/v1/lists/{mailing_list.id}/export?status=confirmed").text

    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="readers-subscribers-')
    assert list(rows[0]) == ["email", "name", "status", "created_at", "confirmed_at", "unsubscribed_at"]
    assert [(r["email"], r["name"], r["status"]) for r in rows] == [
        ("ann@example.com", "Ann", "confirmed"),
        ("bob@example.com", "Bob", "unsubscribed"),
        ("'=cmd@example.com", "'=HYPERLINK(1)", "confirmed"),
    ]
    assert rows[1]["unsubscribed_at"] and rows[0]["unsubscribed_at"] == ""
    assert [r["email"] for r in csv.DictReader(io.StringIO(only_confirmed))] == [
        "ann@example.com",
        "'=cmd@example.com",
    ]


def subscribers_of(owner, mailing_list):
    return db.session.scalars(subscribers.query(owner.account_id, mailing_list.id)).all()


@pytest.mark.parametrize(
    ("query", "content_type", "data", "field"),
    [
        ("?status=unsubscribed", "text/csv", "a@example.com\n", "status"),
        ("?colour=red", "text/csv", "a@example.com\n", "colour"),
        ("", "application/json", '{"email": "a@example.com"}', "body"),
        ("", "text/csv", "", "file"),
    ],
)
def test_bad_uploads_are_422_and_create_nothing(api, mailing_list, query, content_type, data, field):
    response = api.post(f"/api/v1/lists/{mailing_list.id}/imports{query}", data=data, content_type=content_type)

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == field
    assert db.session.scalar(sa.select(sa.func.count(SubscriberImport.id))) == 0


def test_a_multipart_upload_without_a_file_field_is_422(api, mailing_list):
    response = api.post(
        f"/api/v1/lists/{mailing_list.id}/imports", data={"other": "x"}, content_type="multipart/form-data"
    )

    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "file"


@pytest.mark.parametrize("multipart", [False, True])
def test_an_upload_over_the_limit_is_413_and_leaves_nothing(app, api, mailing_list, monkeypatch, multipart):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 1000)
    big = "email\n" + "someone@example.com\n" * 100

    if multipart:
        data = {"file": (io.BytesIO(big.encode()), "big.csv")}
        response = api.post(f"/api/v1/lists/{mailing_list.id}/imports", data=data, content_type="multipart/form-data")
    else:
        response = post_csv(api, mailing_list.id, big)

    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "request_entity_too_large"
    assert "larger than the 1,000 bytes limit" in error["message"]
    assert db.session.scalar(sa.select(sa.func.count(SubscriberImport.id))) == 0
    assert list(imports.upload_dir().iterdir()) == []


def test_the_limit_is_the_configured_one_not_the_apps_body_limit(app, api, mailing_list, monkeypatch, run_jobs):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 100)  # what every other API route accepts

    response = post_csv(api, mailing_list.id, "email\n" + "".join(f"r{i}@example.com\n" for i in range(50)))

    assert response.status_code == 202
    run_jobs()
    assert len(members(mailing_list.id)) == 50


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/lists/{list}/imports"),
        ("get", "/api/v1/lists/{list}/imports"),
        ("get", "/api/v1/lists/{list}/export"),
        ("get", "/api/v1/imports/{job}"),
        ("get", "/api/v1/imports/{job}/errors"),
    ],
)
def test_every_route_needs_a_token_and_hides_other_accounts(app, api, anon, make_user, upload, method, path):
    stranger = make_user("stranger@example.com")
    theirs = make_list(stranger.account_id, "Theirs")
    job = imports.create(stranger.account_id, theirs.id, io.BytesIO(b"a@example.com\n"), "t.csv")
    url = path.format(list=theirs.id, job=job.id)

    assert getattr(anon, method)(url, data="a@example.com\n", content_type="text/csv").status_code == 401
    response = getattr(api, method)(url, data="a@example.com\n", content_type="text/csv")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert db.session.scalar(sa.select(sa.func.count(SubscriberImport.id))) == 1


def test_the_document_describes_the_csv_bodies_and_answers(anon):
    paths = anon.get("/api/v1/openapi.json").get_json()["paths"]

    upload = paths["/lists/{list_id}/imports"]["post"]
    assert set(upload["requestBody"]["content"]) == {"text/csv", "multipart/form-data"}
    assert {"202", "401", "404", "413", "422"} <= set(upload["responses"])
    assert {p["name"] for p in upload["parameters"]} >= {"list_id", "status", "filename"}
    assert paths["/lists/{list_id}/export"]["get"]["responses"]["200"]["content"] == {
        "text/csv": {"schema": {"type": "string"}}
    }
    assert "text/csv" in paths["/imports/{import_id}/errors"]["get"]["responses"]["200"]["content"]
