"""A CSV import refuses an address erased at its owner's request, row by row, as adding it by hand does."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import EmailKind, ImportRowError, SentEmail
from app.services import audience, imports, subscribers
from app.services.errors import Conflict
from tests.factories import make_list
from tests.imports.conftest import counts, members, row_errors

ANN = "ann@example.com"


def _erase(account_id: int, list_id: int, address: str = ANN) -> None:
    subscribers.add(account_id, list_id, address, "Ann")
    audience.erase(account_id, address)


def test_an_erased_address_is_a_row_error_and_the_rest_is_imported(import_file, owner, mailing_list):
    _erase(owner.account_id, mailing_list.id)

    job = import_file(f"email,name\nbob@example.com,Bob\n{ANN.upper()},Ann\nnot-an-address,X\ncy@example.com,Cy\n")

    assert counts(job) == {
        "rows_seen": 4,
        "added": 2,
        "already_on_list": 0,
        "skipped_unsubscribed": 0,
        "invalid": 2,
        "duplicates": 0,
    }
    assert set(members(mailing_list.id)) == {"bob@example.com", "cy@example.com"}
    errors = row_errors(job.id)
    assert [line for line, _, _ in errors] == [3, 4]  # in file order, whichever check found them
    assert errors[0] == (3, "", "This address was erased at its owner's request; they can subscribe again themselves")
    # The report names the line, not the address: it keeps nothing the erasure removed.
    values = db.session.scalars(sa.select(ImportRowError.value).where(ImportRowError.import_id == job.id))
    assert not [value for value in values if "ann" in value.lower()]


def test_it_is_refused_like_the_dashboard_and_api_refuse_it(owner, mailing_list):
    _erase(owner.account_id, mailing_list.id)

    with pytest.raises(Conflict) as refused:
        subscribers.add(owner.account_id, mailing_list.id, ANN)
    assert "erased at its owner's request" in refused.value.message
    assert "erased at its owner's request" in imports.ERASED


def test_a_pending_import_sends_the_erased_address_nothing(import_file, owner, mailing_list, smtp_server, run_jobs):
    _erase(owner.account_id, mailing_list.id)

    job = import_file(f"email\n{ANN}\nbob@example.com\n", status="pending")
    run_jobs()

    assert (job.added, job.invalid) == (1, 1)
    confirmations = db.session.scalars(sa.select(SentEmail.recipient).where(SentEmail.kind == EmailKind.CONFIRMATION))
    assert list(confirmations) == ["bob@example.com"]
    assert smtp_server.to(ANN) == []


def test_the_erasure_is_the_accounts_own(import_file, owner, mailing_list, make_user):
    stranger = make_user("stranger@example.com")
    theirs = make_list(stranger.account_id, "Theirs")
    _erase(stranger.account_id, theirs.id)

    job = import_file(f"email\n{ANN}\n")

    assert (job.added, job.invalid) == (1, 0)
    assert ANN in members(mailing_list.id)


def test_erased_addresses_across_chunks_are_each_refused(import_file, owner, mailing_list, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    erased = [f"gone{i}@example.com" for i in range(3)]
    for address in erased:
        _erase(owner.account_id, mailing_list.id, address)

    rows = ["kept0@example.com", erased[0], erased[1], "kept1@example.com", "kept2@example.com", erased[2]]
    job = import_file("email\n" + "\n".join(rows) + "\n")

    assert (job.added, job.invalid, job.rows_seen) == (3, 3, 6)
    assert [line for line, _, _ in row_errors(job.id)] == [3, 4, 7]
    assert set(members(mailing_list.id)) == {"kept0@example.com", "kept1@example.com", "kept2@example.com"}
