"""A 100,000-row file, written to disk, uploaded through the API and imported, in bounded memory.

tracemalloc watches the whole upload and the job's first and last chunks (with the finishing
transaction). Watching every chunk would make the test several times slower: tracing costs
e-mail validation about eight times its speed. Memory that grew from chunk to chunk would
still show in the last chunks, which allocate the job's largest cursor and counts.
"""

from __future__ import annotations

import csv
import io
import time
import tracemalloc

import sqlalchemy as sa

from app.extensions import db
from app.models import ImportStatus, Subscriber, SubscriberImport
from app.services import accounts, imports
from tests.imports.conftest import counts

ROWS = 100_000
NOTES = "imported from the old newsletter tool; consent recorded at the spring fair"


def write_file(path) -> None:
    """Mostly good rows; every 1,000th repeats an earlier address in capitals, 20 are broken."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("email,name,notes\n")
        for i in range(ROWS):
            if i % 5000 == 4998:
                fh.write(f"broken-{i},Broken,{NOTES}\n")
            elif i % 1000 == 999:
                fh.write(f"READER{i - 500}@EX.IO,Repeat,{NOTES}\n")
            else:
                fh.write(f"reader{i}@ex.io,Reader {i:06d},{NOTES}\n")


def traced(action):
    tracemalloc.start()
    try:
        result = action()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_100k_row_file_is_streamed_and_imported_in_bounded_memory(
    app, client, owner, mailing_list, run_jobs, tmp_path
):
    started = time.monotonic()
    path = tmp_path / "readers.csv"
    write_file(path)
    size = path.stat().st_size
    token = accounts.create_token(owner.email)

    with path.open("rb") as fh:
        response, upload_peak = traced(
            lambda: client.post(
                f"/api/v1/lists/{mailing_list.id}/imports?filename=readers.csv",
                input_stream=fh,
                content_length=size,
                content_type="text/csv",
                headers={"Authorization": f"Bearer {token}"},
            )
        )
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    assert response.get_json()["total_bytes"] == size

    _, first_peak = traced(lambda: imports.process(job_id, max_chunks=10))
    assert db.session.get(SubscriberImport, job_id).rows_seen == 10 * imports.CHUNK_ROWS
    imports.process(job_id, max_chunks=180)  # the middle, untraced
    finish, last_peak = traced(lambda: imports.process(job_id))  # the last chunks, and the end
    assert finish == ImportStatus.DONE
    run_jobs()  # the jobs queued by the partial runs find nothing left to do

    job = db.session.get(SubscriberImport, job_id)
    assert job.status == ImportStatus.DONE
    assert counts(job) == {
        "rows_seen": ROWS,
        "added": ROWS - 100 - 20,
        "already_on_list": 0,
        "skipped_unsubscribed": 0,
        "invalid": 20,
        "duplicates": 100,
    }
    assert job.processed_bytes == size
    assert db.session.scalar(sa.select(sa.func.count(Subscriber.id))) == ROWS - 120
    assert size > 10_000_000
    for peak in (upload_peak, first_peak, last_peak):
        assert peak < size / 6, f"peak {peak:,} bytes for a {size:,}-byte file"

    # The export streams the same 99,880 people back, a batch at a time.
    export = client.get(f"/api/v1/lists/{mailing_list.id}/export", headers={"Authorization": f"Bearer {token}"})
    assert export.is_streamed
    batches = list(export.response)
    assert len(batches) == -(-(ROWS - 120) // imports.EXPORT_BATCH)
    rows = list(csv.reader(io.StringIO(b"".join(batches).decode())))
    assert len(rows) == ROWS - 120 + 1
    assert rows[1][:3] == ["reader0@ex.io", "Reader 000000", "confirmed"]
    assert time.monotonic() - started < 60  # about 15 s on the project's 2-core machine
