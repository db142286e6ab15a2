"""What an import does with a file: headers, encodings, bad rows, repeats, addresses already there.

Every test uploads through the service and runs the job with a real RQ worker.
"""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ImportStatus, SentEmail, Subscriber, SubscriberImport, SubscriberStatus
from app.services import imports, subscribers
from app.services.errors import NotFound, ValidationFailed
from tests.factories import make_list
from tests.imports.conftest import counts, members, row_errors


def test_case_variants_and_repeats_count_once(import_file, mailing_list):
    job = import_file("email\nFoo@Example.COM\nfoo@example.com\nFOO@EXAMPLE.COM\nbar@example.com\nbar@example.com\n")

    assert job.status == ImportStatus.DONE
    assert counts(job) == {
        "rows_seen": 5,
        "added": 2,
        "already_on_list": 0,
        "skipped_unsubscribed": 0,
        "invalid": 0,
        "duplicates": 3,
    }
    # The single-subscribe rule: trimmed and lower-cased, local part included.
    assert set(members(mailing_list.id)) == {"foo@example.com", "bar@example.com"}


def test_the_first_of_two_repeated_rows_wins(import_file, mailing_list):
    import_file("email,name\nann@example.com,First\nANN@example.com,Second\n")

    assert members(mailing_list.id) == {"ann@example.com": ("First", "confirmed")}


def test_repeats_far_apart_count_once_across_chunks(import_file, mailing_list, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)

    job = import_file("a@example.com\nb@example.com\nc@example.com\nB@example.com\nd@example.com\na@EXAMPLE.com\n")

    assert (job.rows_seen, job.added, job.duplicates, job.already_on_list) == (6, 4, 2, 0)
    assert set(members(mailing_list.id)) == {f"{x}@example.com" for x in "abcd"}


BAD_FILE = b"".join(
    [
        b"email,name\n",  # 1
        b"good1@example.com,Good One\n",  # 2
        b"not-an-address,Bad\n",  # 3
        b",No Address\n",  # 4
        b"good2@example.com,Good Two,extra,columns,are,ignored\n",  # 5
        b"caf\xe9@example.com,Latin-1 byte\n",  # 6
        b'"multi\n',  # 7: a quoted field with a line break inside
        b'line@example.com",Broken\n',  # 8
        b'good3@example.com,"Smith, Jane"\n',  # 9
        b"long-name@example.com," + b"x" * 201 + b"\n",  # 10
        b'"unclosed@example.com,Never closed\n',  # 11
        b"good4@example.com,Good Four\n",  # 12
    ]
)


def test_bad_rows_are_reported_by_line_and_the_rest_is_imported(import_file, mailing_list):
    job = import_file(BAD_FILE)

    assert job.status == ImportStatus.DONE
    assert members(mailing_list.id) == {
        "good1@example.com": ("Good One", "confirmed"),
        "good2@example.com": ("Good Two", "confirmed"),
        "good3@example.com": ("Smith, Jane", "confirmed"),
        "good4@example.com": ("Good Four", "confirmed"),
    }
    errors = row_errors(job.id)
    assert [(line, value) for line, value, _ in errors] == [
        (3, "not-an-address"),
        (4, ",No Address"),
        (6, "caf\ufffd@example.com,Latin-1 byte"),
        (7, "multi\\nline@example.com"),
        (10, "x" * 199 + "…"),
        (11, '"unclosed@example.com,Never closed'),
    ]
    messages = [message for _, _, message in errors]
    assert messages[0].startswith("Email is not a valid e-mail address")
    assert messages[1] == "The email column is empty"
    assert messages[2] == "Not UTF-8 text (byte 4); save the file as CSV UTF-8"
    assert messages[3] == "Email must not contain line breaks or NUL characters"
    assert messages[4] == "Name is longer than 200 characters"
    assert messages[5] == "A quoted field is not closed on this line"
    assert counts(job) == {
        "rows_seen": 10,
        "added": 4,
        "already_on_list": 0,
        "skipped_unsubscribed": 0,
        "invalid": 6,
        "duplicates": 0,
    }


def test_an_unclosed_quote_costs_one_row_not_the_rest_of_the_file(import_file, mailing_list):
    rows = "".join(f"r{i}@example.com,R{i}\n" for i in range(30))

    job = import_file('email,name\n"stray@example.com,Oops\n' + rows)

    assert [(line, message) for line, _, message in row_errors(job.id)] == [
        (2, "A quoted field is not closed on this line")
    ]
    assert job.added == 30
    assert len(members(mailing_list.id)) == 30


def test_a_line_longer_than_the_limit_is_one_error(import_file, mailing_list):
    long_line = "x" * (imports.MAX_LINE_BYTES + 500)

    job = import_file(f"email,name\n{long_line}@example.com,Long\nok@example.com,Ok\n")

    [(line, value, message)] = row_errors(job.id)
    assert (line, message) == (2, f"Line is longer than {imports.MAX_LINE_BYTES:,} bytes")
    assert len(value) == 200
    assert members(mailing_list.id) == {"ok@example.com": ("Ok", "confirmed")}
    assert job.lines_read == 3


def test_a_header_is_found_in_any_case_order_and_delimiter(import_file, mailing_list):
    job = import_file("Name;E-Mail;Source\nAnn Lee;ANN@example.com;fair\nBob;bob@example.com;web\n")

    assert job.has_header is True
    assert job.delimiter == ";"
    assert members(mailing_list.id) == {
        "ann@example.com": ("Ann Lee", "confirmed"),
        "bob@example.com": ("Bob", "confirmed"),
    }


def test_without_a_header_the_first_column_is_the_address_and_the_second_the_name(import_file, mailing_list):
    job = import_file("ann@example.com,Ann,ignored\nbob@example.com\n\tcarl@example.com\t,  Carl  \n")

    assert job.has_header is False
    assert job.rows_seen == 3
    assert members(mailing_list.id) == {
        "ann@example.com": ("Ann", "confirmed"),
        "bob@example.com": ("", "confirmed"),
        "carl@example.com": ("Carl", "confirmed"),
    }


def test_a_first_row_that_is_no_address_hints_at_the_header(import_file):
    job = import_file("mail,name\nann@example.com,Ann\n")

    [(line, value, message)] = row_errors(job.id)
    assert (line, value) == (1, "mail")
    assert message.endswith('(if this is a header row, name the address column "email")')
    assert job.added == 1


def test_bom_crlf_blank_lines_and_no_final_newline(import_file, mailing_list):
    job = import_file(b"\xef\xbb\xbfEmail,Name\r\n\r\nann@example.com,Ann\r\n   \r\n,\r\nbob@example.com,Bob")

    assert job.has_header is True
    assert row_errors(job.id) == []
    assert (job.rows_seen, job.added) == (2, 2)
    assert members(mailing_list.id) == {
        "ann@example.com": ("Ann", "confirmed"),
        "bob@example.com": ("Bob", "confirmed"),
    }
    assert (job.processed_bytes, job.percent) == (job.total_bytes, 100)


def test_uploading_the_same_file_again_adds_nothing(import_file, mailing_list):
    content = "email,name\nann@example.com,Ann\nbob@example.com,Bob\nbad\nann@example.com,Again\n"
    first = import_file(content)
    before = members(mailing_list.id)

    again = import_file(content)

    assert (first.added, first.already_on_list) == (2, 0)
    assert counts(again) == {
        "rows_seen": 4,
        "added": 0,
        "already_on_list": 2,
        "skipped_unsubscribed": 0,
        "invalid": 1,
        "duplicates": 1,
    }
    assert imports.summary(again) == "0 added, 2 already on the list, 1 invalid, 1 repeated in the file"
    assert members(mailing_list.id) == before


def test_subscribers_already_on_the_list_are_never_changed(import_file, owner, mailing_list):
    ann = subscribers.add(owner.account_id, mailing_list.id, "ann@example.com", "Ann Original")
    bob = subscribers.add(owner.account_id, mailing_list.id, "bob@example.com", "Bob")
    subscribers.update(owner.account_id, bob.id, status="unsubscribed")
    subscribers.add(owner.account_id, mailing_list.id, "carl@example.com", "Carl", status="pending")
    ann_confirmed_at = ann.confirmed_at

    job = import_file(
        "email,name\nANN@example.com,New Name\nbob@example.com,Bob\ncarl@example.com,C\ndan@example.com,Dan\n"
    )

    assert (job.added, job.already_on_list, job.skipped_unsubscribed) == (1, 2, 1)
    assert members(mailing_list.id) == {
        "ann@example.com": ("Ann Original", "confirmed"),
        "bob@example.com": ("Bob", "unsubscribed"),
        "carl@example.com": ("Carl", "pending"),
        "dan@example.com": ("Dan", "confirmed"),
    }
    assert db.session.get(Subscriber, ann.id).confirmed_at == ann_confirmed_at


def test_rows_marked_unsubscribed_are_skipped(import_file, mailing_list):
    job = import_file("email,name,status\na@example.com,A,unsubscribed\nb@example.com,B,confirmed\nc@example.com,C,\n")

    assert (job.added, job.skipped_unsubscribed) == (2, 1)
    assert set(members(mailing_list.id)) == {"b@example.com", "c@example.com"}


def test_imported_subscribers_are_confirmed_and_sent_nothing(import_file, mailing_list, smtp_server, run_jobs):
    import_file("ann@example.com,Ann\n")
    run_jobs()

    ann = db.session.scalar(sa.select(Subscriber).where(Subscriber.list_id == mailing_list.id))
    assert ann.status == SubscriberStatus.CONFIRMED and ann.confirmed_at is not None
    assert smtp_server.received == []


def test_a_pending_import_sends_each_new_subscriber_the_confirmation_email(
    import_file, owner, mailing_list, smtp_server, run_jobs
):
    subscribers.add(owner.account_id, mailing_list.id, "old@example.com", "Old")

    job = import_file("email,name\nann@example.com,Ann\nbob@example.com,Bob\nold@example.com,Old\n", status="pending")
    run_jobs()

    assert job.subscriber_status == SubscriberStatus.PENDING
    assert members(mailing_list.id) == {
        "ann@example.com": ("Ann", "pending"),
        "bob@example.com": ("Bob", "pending"),
        "old@example.com": ("Old", "confirmed"),
    }
    assert {r.rcpt_tos[0] for r in smtp_server.received} == {"ann@example.com", "bob@example.com"}
    assert "confirm" in smtp_server.to("ann@example.com")[0].message["Subject"].lower()
    pending = db.session.scalars(sa.select(Subscriber).where(Subscriber.status == SubscriberStatus.PENDING)).all()
    assert all(s.confirm_nonce and s.confirm_sent_at for s in pending)
    assert db.session.scalar(sa.select(sa.func.count(SentEmail.id))) == 2


def test_a_file_over_the_size_limit_is_refused_and_nothing_kept(app, upload, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 100)

    with pytest.raises(imports.TooLarge) as refused:
        upload("email\n" + "a@example.com\n" * 20)

    assert refused.value.status == 413
    assert "larger than the 100 bytes limit" in refused.value.message
    assert db.session.scalar(sa.select(sa.func.count(SubscriberImport.id))) == 0
    assert list(imports.upload_dir().iterdir()) == []


def test_an_announced_size_over_the_limit_is_refused_before_reading(app, owner, mailing_list, monkeypatch):
    monkeypatch.setitem(app.config, "IMPORT_MAX_BYTES", 100)

    class Unreadable(io.RawIOBase):
        def read(self, size=-1):
            raise AssertionError("the body was read")

    with pytest.raises(imports.TooLarge):
        imports.create(owner.account_id, mailing_list.id, Unreadable(), "big.csv", length=101)


@pytest.mark.parametrize(
    ("content", "status", "field"),
    [(b"", "confirmed", "file"), (b"a@example.com\n", "unsubscribed", "status"), (b"a@example.com\n", "x", "status")],
)
def test_bad_uploads_are_refused(upload, content, status, field):
    with pytest.raises(ValidationFailed) as refused:
        upload(content, status=status)

    assert refused.value.field == field
    assert db.session.scalar(sa.select(sa.func.count(SubscriberImport.id))) == 0
    assert list(imports.upload_dir().iterdir()) == []


def test_another_accounts_list_and_import_are_not_found(upload, make_user, owner):
    job = upload("a@example.com\n")
    stranger = make_user("stranger@example.com")
    theirs = make_list(stranger.account_id, "Theirs")

    with pytest.raises(NotFound):
        upload("b@example.com\n", list_id=theirs.id)
    with pytest.raises(NotFound):
        imports.get(stranger.account_id, job.id)
    with pytest.raises(NotFound):
        imports.export(stranger.account_id, job.list_id)
