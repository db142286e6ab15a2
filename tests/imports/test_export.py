"""A list's CSV export: a round trip through an import, formulas defused, batches streamed."""

from __future__ import annotations

import csv
import io

import pytest

from app.services import imports, subscribers
from tests.factories import make_list
from tests.imports.conftest import members


def export_text(owner, list_id: int, status: str | None = None) -> str:
    return "".join(imports.export(owner.account_id, list_id, status))


@pytest.fixture
def source(owner, mailing_list):
    """A list with tricky names, a pending and an unsubscribed subscriber."""
    people = [
        ("ann@example.com", "Ann O'Neil", "confirmed"),
        ("bob@example.com", 'Bob "The Builder", Jr.', "confirmed"),
        ("zoe@example.com", "Zoë Ångström 山田", "pending"),
        ("+plus@example.com", "=SUM(A1:A9)", "confirmed"),
        ("-minus@example.com", "@cmd", "confirmed"),
        ("gone@example.com", "Gone", "confirmed"),
    ]
    for email, name, status in people:
        subscribers.add(owner.account_id, mailing_list.id, email, name, status)
    gone = next(s for s in subscribers_of(owner, mailing_list.id) if s.email == "gone@example.com")
    subscribers.update(owner.account_id, gone.id, status="unsubscribed")
    return mailing_list


def subscribers_of(owner, list_id):
    from app.extensions import db

    return db.session.scalars(subscribers.query(owner.account_id, list_id)).all()


def test_export_then_import_into_another_list_gives_the_same_people(owner, source, import_file):
    exported = export_text(owner, source.id)
    target = make_list(owner.account_id, "Copy", double_opt_in=False)

    job = import_file(exported.encode(), list_id=target.id)

    before = {email: name for email, (name, status) in members(source.id).items() if status != "unsubscribed"}
    after = {email: name for email, (name, _) in members(target.id).items()}
    assert after == before
    assert (job.added, job.skipped_unsubscribed, job.invalid) == (5, 1, 0)  # an unsubscribe travels with the file


def test_cells_a_spreadsheet_would_run_are_prefixed(owner, source):
    rows = list(csv.DictReader(io.StringIO(export_text(owner, source.id))))

    cells = {row["email"]: row["name"] for row in rows}
    assert cells["'+plus@example.com"] == "'=SUM(A1:A9)"
    assert cells["'-minus@example.com"] == "'@cmd"
    assert cells["bob@example.com"] == 'Bob "The Builder", Jr.'
    assert imports.guarded("\tTab") == "'\tTab" and imports.guarded(None) == "" and imports.guarded(3) == "3"


def test_the_columns_and_timestamps(owner, source):
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(export_text(owner, source.id)))}

    assert list(next(iter(rows.values()))) == list(imports.EXPORT_COLUMNS)
    assert rows["zoe@example.com"]["status"] == "pending" and rows["zoe@example.com"]["confirmed_at"] == ""
    assert rows["gone@example.com"]["unsubscribed_at"].endswith("+00:00")
    assert rows["ann@example.com"]["created_at"] <= rows["ann@example.com"]["confirmed_at"]


def test_the_export_comes_in_keyset_batches(owner, source, monkeypatch):
    monkeypatch.setattr(imports, "EXPORT_BATCH", 2)

    batches = list(imports.export(owner.account_id, source.id))

    assert len(batches) == 3  # 6 subscribers, 2 a batch; the header rides with the first
    assert [len(list(csv.reader(io.StringIO(b)))) for b in batches] == [3, 2, 2]
    assert "".join(batches) == export_text(owner, source.id)


def test_an_unknown_status_filter_is_refused(owner, source):
    from app.services.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        imports.export(owner.account_id, source.id, "lost")
    assert [row[0] for row in csv.reader(io.StringIO(export_text(owner, source.id, "pending")))] == [
        "email",
        "zoe@example.com",
    ]
