"""CSV columns become custom attributes of the new subscribers, checked as the API checks them.

The rule: with a header row, every column but the address, the name and the status (and the
export's timestamps) is an attribute named by its header; cells are text and an empty one sets
nothing. A bad cell is a row error with its line; a header that cannot name an attribute fails
the import before any row is written. A resumed job reads the header again.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.models import ImportStatus, Subscriber, SubscriberImport
from app.services import imports, subscribers
from tests.imports.conftest import counts, members, row_errors


def attributes(list_id: int) -> dict[str, dict]:
    db.session.expire_all()
    rows = db.session.execute(sa.select(Subscriber.email, Subscriber.attributes).where(Subscriber.list_id == list_id))
    return dict(rows.all())


def test_other_columns_become_attributes_named_by_their_headers(import_file, mailing_list):
    job = import_file(
        "Email,Name,Plan,seats,Company Name,status,created_at\n"
        "ann@example.com,Ann,pro,5, Acme ,confirmed,2024-01-01T00:00:00\n"
        "bob@example.com,Bob,,,,,\n"
        "cy@example.com,Cy,'=SUM(1),0,Zürich AG,,\n"
    )

    assert job.status == ImportStatus.DONE and job.added == 3
    assert attributes(mailing_list.id) == {
        "ann@example.com": {"Plan": "pro", "seats": "5", "Company Name": "Acme"},
        "bob@example.com": {},  # empty cells set nothing, so `| default(...)` applies
        "cy@example.com": {"Plan": "=SUM(1)", "seats": "0", "Company Name": "Zürich AG"},  # the export's guard undone
    }
    assert members(mailing_list.id)["ann@example.com"] == ("Ann", "confirmed")


def test_without_a_header_there_are_no_attributes(import_file, mailing_list):
    import_file("ann@example.com,Ann,pro\n")

    assert attributes(mailing_list.id) == {"ann@example.com": {}}


def test_an_address_already_on_the_list_keeps_its_attributes(import_file, mailing_list, owner):
    subscribers.add(owner.account_id, mailing_list.id, "ann@example.com", "Ann", attributes={"plan": "free"})

    job = import_file("email,plan\nann@example.com,pro\nbob@example.com,pro\n")

    assert (job.added, job.already_on_list) == (1, 1)
    assert attributes(mailing_list.id) == {"ann@example.com": {"plan": "free"}, "bob@example.com": {"plan": "pro"}}


def test_a_bad_cell_is_a_row_error_and_the_other_rows_are_imported(import_file, mailing_list):
    job = import_file(
        "email,plan,notes\n"
        "ann@example.com,pro,fine\n"
        "bob@example.com,pro\x07,fine\n"
        f"cy@example.com,{'x' * 5000},{'y' * 5000}\n"
        "dee@example.com,free,\n"
    )

    assert counts(job) == {
        "rows_seen": 4,
        "added": 2,
        "already_on_list": 0,
        "skipped_unsubscribed": 0,
        "invalid": 2,
        "duplicates": 0,
    }
    errors = row_errors(job.id)
    assert errors[0] == (3, "pro\x07", "Column “plan” must not contain control characters")
    assert errors[1][0] == 4
    assert errors[1][2] == "Attribute columns: attributes is 10025 bytes as JSON; the limit is 8192"
    assert set(attributes(mailing_list.id)) == {"ann@example.com", "dee@example.com"}


def test_a_header_that_cannot_name_attributes_fails_the_import_before_any_row(import_file, mailing_list):
    too_many = ",".join(f"col{i}" for i in range(51))
    cases = [
        (f"email,{'x' * 65}\n", "column 2 (“" + "x" * 40 + "”): attribute names must be 1 to 64 characters"),
        ("email,plan,plan\n", "two columns are named “plan”; rename one"),
        ("email,pl\x01an\n", "column 2 (“pl\x01an”): attribute names must not contain control characters"),
        (f"email,{too_many}\n", "51 columns would be attributes; the limit is 50"),
    ]
    for header, message in cases:
        job = import_file(header + "ann@example.com" + "," * header.count(",") + "\nbob@example.com\n")
        assert job.status == ImportStatus.FAILED, header
        assert (
            job.error
            == message + ". Every column but the address, name and status is a custom attribute named by its header"
        )
        assert (job.added, job.rows_seen) == (0, 0)
    assert members(mailing_list.id) == {}


def test_the_failure_says_nothing_was_imported(import_file, owner, app):
    from tests.conftest import AuthActions

    job = import_file("email,plan,plan\nann@example.com,a,b\n")
    client = app.test_client()
    AuthActions(client).login()

    page = client.get(f"/imports/{job.id}").text

    assert "two columns are named “plan”" in page and "Nothing was imported." in page


def test_a_resumed_import_reads_the_header_again(upload, run_jobs, mailing_list, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    job_id = upload("email,plan\n" + "".join(f"u{i}@example.com,plan{i}\n" for i in range(5))).id

    assert imports.process(job_id, max_chunks=1) == ImportStatus.RUNNING
    run_jobs()  # a new job, with a new layout read from the record and the header

    db.session.expire_all()
    assert db.session.get(SubscriberImport, job_id).status == ImportStatus.DONE
    assert attributes(mailing_list.id) == {f"u{i}@example.com": {"plan": f"plan{i}"} for i in range(5)}


def test_the_import_page_explains_the_rule(owner, mailing_list, app):
    from tests.conftest import AuthActions

    client = app.test_client()
    AuthActions(client).login()

    page = client.get(f"/lists/{mailing_list.id}/import").text

    assert "Every other column is a <strong>custom attribute</strong>" in page
    assert "Up to 50 attribute columns with names of 1 to" in page
    assert "An address erased at its owner’s request is refused" in page
