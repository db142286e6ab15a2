"""The dashboard: Import and Export buttons, the upload form with CSRF, live progress, downloads."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa
from flask import g

from app.extensions import db
from app.models import SubscriberImport
from app.services import imports, subscribers
from tests.conftest import csrf_token
from tests.imports.conftest import members

CSV = b"email,name\nann@example.com,Ann\nnot-an-address,X\nbob@example.com,Bob\nANN@example.com,Again\n"


@pytest.fixture
def logged_in(owner, auth):
    auth.login()
    return owner


def post_file(client, list_id: int, data: bytes, status: str = "confirmed", token: str | None = None):
    if token is None:
        token = csrf_token(client.get(f"/lists/{list_id}/import").text)
    return client.post(
        f"/lists/{list_id}/import",
        data={"csrf_token": token, "status": status, "file": (io.BytesIO(data), "people.csv")},
        content_type="multipart/form-data",
    )


def test_the_list_page_has_import_and_export_buttons(client, logged_in, mailing_list):
    page = client.get(f"/lists/{mailing_list.id}?status=confirmed").text

    assert f'href="/lists/{mailing_list.id}/import"' in page
    assert f'href="/lists/{mailing_list.id}/export.csv?status=confirmed"' in page


def test_the_form_says_what_confirmed_means_and_takes_a_file(client, logged_in, mailing_list):
    page = client.get(f"/lists/{mailing_list.id}/import").text

    assert 'type="file"' in page and 'enctype="multipart/form-data"' in page
    assert "you vouch that each of them" in page
    assert "Up to 50 MB." in page


def test_an_upload_runs_in_the_background_with_live_progress(client, logged_in, mailing_list, run_jobs):
    response = post_file(client, mailing_list.id, CSV)

    assert response.status_code == 302
    job = db.session.scalar(sa.select(SubscriberImport))
    assert response.headers["Location"] == f"/imports/{job.id}"
    page = client.get(f"/imports/{job.id}").text
    assert "“people.csv” uploaded" in page
    assert "Waiting for a worker to start" in page
    assert f'hx-get="/imports/{job.id}/progress"' in page  # polls while it runs

    run_jobs()
    fragment = client.get(f"/imports/{job.id}/progress").text

    assert "hx-get" not in fragment  # finished: it stops polling
    assert "2 added, 0 already on the list, 1 invalid, 1 repeated in the file" in fragment
    assert re.search(r'data-count="added">2<', fragment)
    assert "not-an-address" in fragment and ">3<" in fragment  # the bad row and its line
    assert f'href="/imports/{job.id}/errors.csv"' in fragment
    assert set(members(mailing_list.id)) == {"ann@example.com", "bob@example.com"}
    history = client.get(f"/lists/{mailing_list.id}/import").text
    assert "Earlier imports" in history and f'href="/imports/{job.id}"' in history


def test_the_progress_shows_a_running_import_part_way(client, logged_in, mailing_list, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    post_file(client, mailing_list.id, CSV)
    job = db.session.scalar(sa.select(SubscriberImport))

    imports.process(job.id, max_chunks=1)
    fragment = client.get(f"/imports/{job.id}/progress").text

    assert f'hx-get="/imports/{job.id}/progress"' in fragment
    assert "rows so far" in fragment and 'aria-valuenow="0"' not in fragment


def test_the_errors_download(client, logged_in, mailing_list, run_jobs):
    post_file(client, mailing_list.id, CSV + b"@=evil,x\n")
    run_jobs()
    job = db.session.scalar(sa.select(SubscriberImport))

    response = client.get(f"/imports/{job.id}/errors.csv")

    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert [row[:2] for row in rows] == [["line", "value"], ["3", "not-an-address"], ["6", "'@=evil"]]


def test_a_pending_upload_sends_confirmations(client, logged_in, mailing_list, run_jobs, smtp_server):
    post_file(client, mailing_list.id, CSV, status="pending")
    run_jobs()
    run_jobs()

    assert {status for _, status in members(mailing_list.id).values()} == {"pending"}
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["ann@example.com", "bob@example.com"]


def test_an_upload_without_the_csrf_token_is_refused(client, logged_in, mailing_list):
    token = csrf_token(client.get(f"/lists/{mailing_list.id}/import").text)
    # The test's app context outlives requests, and with it the login's "CSRF already checked"
    # mark; a real request starts without it.
    g.pop("csrf_valid", None)

    response = post_file(client, mailing_list.id, CSV, token=token[:-2] + "xx")

    assert response.status_code == 200
    assert "The form expired" in response.text
    assert db.session.scalar(sa.select(sa.func.count(SubscriberImport.id))) == 0


def test_an_upload_without_a_file_says_so(client, logged_in, mailing_list):
    token = csrf_token(client.get(f"/lists/{mailing_list.id}/import").text)

    response = client.post(f"/lists/{mailing_list.id}/import", data={"csrf_token": token, "status": "confirmed"})

    assert "Choose a CSV file." in response.text
    assert db.session.scalar(sa.select(sa.func.count(SubscriberImport.id))) == 0


@pytest.mark.parametrize("rows", [10, 10_000])  # over the limit, and over it by more than the form's slack
def test_a_file_over_the_limit_is_a_form_error(app, client, logged_in, mailing_list, monkeypatch, rows):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 100)

    response = post_file(client, mailing_list.id, b"email\n" + b"someone@example.com\n" * rows)

    assert response.status_code == 413
    assert "larger than the 100 bytes limit" in response.text
    assert 'type="file"' in response.text  # the form, to try again
    assert db.session.scalar(sa.select(sa.func.count(SubscriberImport.id))) == 0
    assert list(imports.upload_dir().iterdir()) == []


def test_the_export_download(client, logged_in, owner, mailing_list):
    subscribers.add(owner.account_id, mailing_list.id, "ann@example.com", "Ann")
    bob = subscribers.add(owner.account_id, mailing_list.id, "bob@example.com", "-Bob")
    subscribers.update(owner.account_id, bob.id, status="unsubscribed")

    everyone = client.get(f"/lists/{mailing_list.id}/export.csv")
    rows = list(csv.reader(io.StringIO(everyone.text)))
    unsubscribed = client.get(f"/lists/{mailing_list.id}/export.csv?status=unsubscribed").text

    assert everyone.mimetype == "text/csv"
    assert "attachment" in everyone.headers["Content-Disposition"]
    assert [row[:3] for row in rows] == [
        ["email", "name", "status"],
        ["ann@example.com", "Ann", "confirmed"],
        ["bob@example.com", "'-Bob", "unsubscribed"],
    ]
    assert [row[0] for row in csv.reader(io.StringIO(unsubscribed))] == ["email", "bob@example.com"]
