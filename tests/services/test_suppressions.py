"""The suppression list service: add, remove, import, expiry, and what a campaign then sends."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.jobs import queue
from app.models import EmailStatus, SentEmail, Suppression, SuppressionReason
from app.models.base import utcnow
from app.services import campaigns, suppressions
from app.services.errors import Conflict, NotFound, ValidationFailed
from tests.factories import add_subscribers, make_campaign, make_list


@pytest.fixture
def account(make_user):
    return make_user().account_id


def emails(account_id: int) -> list[str]:
    return list(db.session.scalars(sa.select(Suppression.email).where(Suppression.account_id == account_id)))


def test_add_normalises_and_is_active(account):
    row = suppressions.add(account, "  Someone@Example.COM ", "complaint", "FBL report")

    assert (row.email, row.reason, row.detail) == ("someone@example.com", SuppressionReason.COMPLAINT, "FBL report")
    assert row.expires_at is None
    assert suppressions.active(account, "someone@example.com")
    assert suppressions.active(account, "SOMEONE@example.com")
    assert not suppressions.active(account, "other@example.com")


def test_add_defaults_to_manual(account):
    assert suppressions.add(account, "a@example.com").reason == SuppressionReason.MANUAL


def test_add_twice_is_a_conflict_that_names_the_address(account):
    suppressions.add(account, "a@example.com", "hard_bounce")

    with pytest.raises(Conflict, match=r"a@example.com is already on the suppression list \(hard_bounce"):
        suppressions.add(account, "A@example.com")
    assert emails(account) == ["a@example.com"]


def test_the_list_is_per_account(account, make_user):
    other = make_user("other@example.com").account_id
    suppressions.add(account, "a@example.com")

    suppressions.add(other, "a@example.com")  # no conflict across accounts
    assert not suppressions.active(make_user("third@example.com").account_id, "a@example.com")
    assert emails(other) == ["a@example.com"]


@pytest.mark.parametrize(
    "address,message",
    [
        ("", "email is required"),
        ("not-an-address", "not a valid e-mail address"),
        ("a@example.com\r\nBcc: b@example.com", "line breaks"),
        ("a@example.com\nx", "line breaks"),
        ("a\x00@example.com", "NUL"),
        ("a" * 250 + "@example.com", "longer than 254"),
    ],
)
def test_add_refuses_bad_addresses(account, address, message):
    with pytest.raises(ValidationFailed, match=message) as caught:
        suppressions.add(account, address)
    assert caught.value.field == "email"
    assert emails(account) == []


def test_add_refuses_an_unknown_reason(account):
    with pytest.raises(ValidationFailed, match="reason 'spam' is not one of hard_bounce, complaint") as caught:
        suppressions.add(account, "a@example.com", "spam")
    assert caught.value.field == "reason"


def test_add_refuses_an_expiry_in_the_past_or_without_timezone(account):
    with pytest.raises(ValidationFailed, match="in the past") as caught:
        suppressions.add(account, "a@example.com", expires_at=utcnow() - timedelta(seconds=1))
    assert caught.value.field == "expires_at"
    with pytest.raises(ValidationFailed, match="timezone"):
        suppressions.add(account, "a@example.com", expires_at=datetime(2999, 1, 1))
    assert emails(account) == []


def test_future_expiry_blocks_until_it_passes(account):
    row = suppressions.add(account, "a@example.com", expires_at=utcnow() + timedelta(days=30))

    assert suppressions.active(account, "a@example.com")
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert not suppressions.active(account, "a@example.com")


def test_adding_an_expired_address_renews_it(account):
    row = suppressions.add(account, "a@example.com", "manual", expires_at=utcnow() + timedelta(days=1))
    row.expires_at = utcnow() - timedelta(days=1)
    db.session.commit()

    renewed = suppressions.add(account, "a@example.com", "complaint", "again")

    assert renewed.id == row.id
    assert (renewed.reason, renewed.detail, renewed.expires_at) == (SuppressionReason.COMPLAINT, "again", None)
    assert suppressions.active(account, "a@example.com")


def test_remove_by_id_and_by_email(account):
    first = suppressions.add(account, "a@example.com")
    suppressions.add(account, "b@example.com")

    assert suppressions.remove(account, first.id) == "a@example.com"
    assert suppressions.remove_by_email(account, " B@Example.com") == "b@example.com"
    assert emails(account) == []
    with pytest.raises(NotFound):
        suppressions.remove_by_email(account, "b@example.com")
    with pytest.raises(NotFound):
        suppressions.remove(account, first.id)


def test_remove_refuses_another_accounts_id(account, make_user):
    other = make_user("other@example.com").account_id
    theirs = suppressions.add(other, "a@example.com")

    with pytest.raises(NotFound, match=f"suppression {theirs.id} not found"):
        suppressions.remove(account, theirs.id)
    with pytest.raises(NotFound):
        suppressions.remove_by_email(account, "a@example.com")
    assert emails(other) == ["a@example.com"]


def test_query_filters_newest_first(account, make_user):
    for address, reason in [
        ("a@example.com", "manual"),
        ("b@example.org", "hard_bounce"),
        ("c%d@example.com", "complaint"),
        ("d@example.com", "hard_bounce"),
    ]:
        suppressions.add(account, address, reason)
    suppressions.add(make_user("other@example.com").account_id, "e@example.com")

    def run(*args, **kwargs):
        return [row.email for row in db.session.scalars(suppressions.query(account, *args, **kwargs))]

    assert run() == ["d@example.com", "c%d@example.com", "b@example.org", "a@example.com"]
    assert run("hard_bounce") == ["d@example.com", "b@example.org"]
    assert run(email_contains="EXAMPLE.ORG") == ["b@example.org"]
    assert run(email_contains="%") == ["c%d@example.com"]  # a literal percent sign, not a wildcard
    assert run("hard_bounce", "example.com") == ["d@example.com"]
    newest = db.session.scalars(suppressions.query(account)).first()
    assert run(before_id=newest.id) == ["c%d@example.com", "b@example.org", "a@example.com"]
    with pytest.raises(ValidationFailed, match="reason"):
        suppressions.query(account, "bogus")


def test_import_csv_with_a_header(account):
    text = 'name,Email,note\r\nAlice,alice@example.com,x\r\n"Smith, Bob",BOB@example.com,y\r\n'

    result = suppressions.import_csv(account, text, "unsubscribe")

    assert (result.added, result.already, result.errors) == (2, 0, [])
    assert sorted(emails(account)) == ["alice@example.com", "bob@example.com"]
    row = db.session.scalar(sa.select(Suppression).where(Suppression.email == "bob@example.com"))
    assert row.reason == SuppressionReason.UNSUBSCRIBE and row.detail == "imported"


def test_import_semicolon_csv_from_bytes_with_a_bom(account):
    data = "\ufeffE-mail;Name\na@example.com;A\nb@example.com;B\n".encode()

    result = suppressions.import_csv(account, io.BytesIO(data))

    assert (result.added, result.errors) == (2, [])


def test_import_one_address_per_line(account):
    result = suppressions.import_csv(account, "a@example.com\n\n  b@example.com  \nc@example.com")

    assert (result.added, result.already, result.errors) == (3, 0, [])


def test_import_counts_duplicates_and_case_variants_once(account):
    suppressions.add(account, "old@example.com")
    text = "a@example.com\nA@EXAMPLE.COM\nold@example.com\nOld@Example.com\na@example.com\n"

    result = suppressions.import_csv(account, text)

    assert (result.added, result.already, result.errors) == (1, 4, [])
    assert sorted(emails(account)) == ["a@example.com", "old@example.com"]


def test_import_reports_bad_lines_with_line_numbers(account):
    text = (
        "email,name\n"  # 1
        "good@example.com,Good\n"  # 2
        "not-an-address,Bad\n"  # 3
        ",Nobody\n"  # 4
        "cr@example.com\rBcc: x@example.com,Evil\n"  # 5
        "nul\x00@example.com,Evil\n"  # 6
        "\n"  # 7
        + "x" * 2000
        + "@example.com\n"  # 8
        + "last@example.com,Last\n"  # 9
    )

    result = suppressions.import_csv(account, text)

    assert result.added == 2
    assert [(e.line, e.value) for e in result.errors] == [
        (3, "not-an-address"),
        (4, ",Nobody"),
        (5, "cr@example.com\\rBcc: x@example.com,Evil"),
        (6, "nul\\0@example.com,Evil"),
        (8, "x" * 119 + "…"),
    ]
    messages = [e.message for e in result.errors]
    assert messages[0].startswith("Not a valid e-mail address: ")
    assert "no value in the email column" in messages[1]
    assert "carriage return or NUL" in messages[2] and "carriage return or NUL" in messages[3]
    assert "longer than 1000 characters" in messages[4]
    assert result.rejected == 5
    assert sorted(emails(account)) == ["good@example.com", "last@example.com"]


def test_import_without_header_hints_at_the_header(account):
    result = suppressions.import_csv(account, "a@example.com,Alice\n")

    assert result.added == 0
    assert 'needs a header row with an "email" column' in result.errors[0].message


def test_import_refuses_an_unknown_reason_before_reading(account):
    with pytest.raises(ValidationFailed, match="reason"):
        suppressions.import_csv(account, "a@example.com\n", "bogus")
    assert emails(account) == []


def test_import_of_20000_lines_streams_in_chunks(account, monkeypatch):
    commits = []
    real_commit = db.session.commit
    monkeypatch.setattr(db.session, "commit", lambda: (commits.append(1), real_commit()))
    suppressions.add(account, "r7@example.com")
    commits.clear()
    consumed = []

    def lines():
        yield "Email,Name\n"
        for i in range(20_000):
            consumed.append(i)
            yield f"R{i}@Example.com,Someone {i}\n"
        yield "R0@example.com,again\n"

    started = time.monotonic()
    result = suppressions.import_csv(account, lines(), chunk=500)
    elapsed = time.monotonic() - started

    assert (result.added, result.already, result.errors) == (19_999, 2, [])
    assert len(consumed) == 20_000
    assert len(commits) == 41  # one transaction per chunk of 500, plus the last, short one
    assert db.session.scalar(sa.select(sa.func.count(Suppression.id))) == 20_000
    assert elapsed < 5, f"20,000 lines took {elapsed:.1f}s"


def test_import_reads_a_stream_line_by_line(account):
    class Lines(io.BytesIO):
        """A binary upload that fails if anything tries to read it whole."""

        def read(self, size=-1):
            assert size is not None and size >= 0, "read the whole stream"
            return super().read(size)

    data = b"".join(f"u{i}@example.com\r\n".encode() for i in range(2000))

    result = suppressions.import_csv(account, Lines(data))

    assert (result.added, result.errors) == (2000, [])


def test_import_caps_the_error_report_but_counts_every_bad_line(account, monkeypatch):
    monkeypatch.setattr(suppressions, "MAX_REPORTED_ERRORS", 10)

    result = suppressions.import_csv(account, "junk\n" * 50 + "ok@example.com\n")

    assert (result.added, result.rejected, len(result.errors)) == (1, 50, 10)
    assert result.errors[-1].line == 10


def test_import_survives_a_row_added_by_someone_else_mid_chunk(account, monkeypatch):
    """The engine may suppress an address between the chunk's look-up and its insert."""
    suppressions.add(account, "b@example.com", "hard_bounce")
    real = suppressions._existing
    calls = []

    def stale_once(account_id, addresses):
        calls.append(1)
        return {} if len(calls) == 1 else real(account_id, addresses)

    monkeypatch.setattr(suppressions, "_existing", stale_once)

    result = suppressions.import_csv(account, "a@example.com\nb@example.com\nc@example.com\n")

    assert (result.added, result.already, result.errors) == (2, 1, [])
    assert sorted(emails(account)) == ["a@example.com", "b@example.com", "c@example.com"]
    row = db.session.scalar(sa.select(Suppression).where(Suppression.email == "b@example.com"))
    assert row.reason == SuppressionReason.HARD_BOUNCE


def test_import_renews_expired_rows(account):
    row = suppressions.add(account, "a@example.com", expires_at=utcnow() + timedelta(days=1))
    row.expires_at = datetime(2000, 1, 1, tzinfo=UTC)
    db.session.commit()

    result = suppressions.import_csv(account, "a@example.com\n", "hard_bounce")

    assert (result.added, result.already) == (1, 0)
    assert suppressions.active(account, "a@example.com")


def test_a_campaign_skips_active_suppressions_and_sends_to_expired_ones(account, run_jobs, smtp_server):
    mailing_list = make_list(account)
    add_subscribers(account, mailing_list.id, 3)
    suppressions.add(account, "user0@example.com", "complaint")
    lapsed = suppressions.add(account, "user1@example.com", expires_at=utcnow() + timedelta(days=1))
    lapsed.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    campaign = make_campaign(account, mailing_list.id)

    campaigns.send(account, campaign.id)
    run_jobs()

    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["user1@example.com", "user2@example.com"]
    rows = {e.recipient: e.status for e in db.session.scalars(sa.select(SentEmail))}
    assert rows.get("user0@example.com", EmailStatus.SUPPRESSED) == EmailStatus.SUPPRESSED
    assert rows["user1@example.com"] == rows["user2@example.com"] == EmailStatus.DELIVERED


def test_a_suppression_added_after_fan_out_still_stops_the_send(account, run_jobs, smtp_server):
    mailing_list = make_list(account)
    add_subscribers(account, mailing_list.id, 2)
    campaign = make_campaign(account, mailing_list.id)
    campaigns.send(account, campaign.id)
    assert campaigns.fan_out(campaign.id) == 2  # the rows exist before the address is suppressed

    suppressions.add(account, "user0@example.com", "manual")
    queue.deliver_campaign(campaign.id)  # the fan-out job finds nothing to add, so enqueues no sender
    run_jobs()

    assert [r.rcpt_tos[0] for r in smtp_server.received] == ["user1@example.com"]
    status = db.session.scalar(sa.select(SentEmail.status).where(SentEmail.recipient == "user0@example.com"))
    assert status == EmailStatus.SUPPRESSED
