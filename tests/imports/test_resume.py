"""An import survives its job: stopped, killed mid-chunk, lost from Redis, or racing another job."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq import Queue
from rq.registry import FailedJobRegistry

from app.extensions import db
from app.jobs import queue
from app.models import ImportAddress, ImportStatus, SubscriberImport
from app.models.base import utcnow
from app.services import imports, lists
from tests.factories import make_list
from tests.imports.conftest import counts, members, row_errors

# 12 rows over chunks of 3: repeats across chunk boundaries, a bad row, a case variant.
FILE = (
    "email,name\n"
    "a@example.com,A\nb@example.com,B\nc@example.com,C\n"
    "A@example.com,Again\nd@example.com,D\nnot-an-address,X\n"
    "e@example.com,E\nb@example.com,B2\nf@example.com,F\n"
    "g@example.com,G\nC@EXAMPLE.COM,C3\nh@example.com,H\n"
)
EXPECTED = {
    "rows_seen": 12,
    "added": 8,
    "already_on_list": 0,
    "skipped_unsubscribed": 0,
    "invalid": 1,
    "duplicates": 3,
}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 3)


def fresh(job_id: int) -> SubscriberImport:
    db.session.expire_all()
    return db.session.get(SubscriberImport, job_id)


def failed_jobs(app) -> int:
    queue = Queue(app.config["RQ_QUEUE"], connection=app.extensions["redis"])
    return FailedJobRegistry(queue=queue).count


def expire_lease(job_id: int) -> None:
    """Time passes: the lease (or the pick-up grace) of the import runs out."""
    db.session.execute(
        sa.update(SubscriberImport)
        .where(SubscriberImport.id == job_id)
        .values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


def test_a_job_stopped_after_one_chunk_carries_on_without_counting_twice(upload, run_jobs, mailing_list):
    job_id = upload(FILE).id

    assert imports.process(job_id, max_chunks=1) == ImportStatus.RUNNING

    part = fresh(job_id)
    assert (part.status, part.rows_seen, part.added, part.lines_read) == (ImportStatus.RUNNING, 3, 3, 4)
    assert part.processed_bytes == len("email,name\na@example.com,A\nb@example.com,B\nc@example.com,C\n")
    assert 0 < part.percent < 100
    assert part.lease_token is None  # handed back, and a new job is queued for the rest
    run_jobs()  # the upload's own job, then the one queued for the rest

    done = fresh(job_id)
    assert done.status == ImportStatus.DONE
    assert counts(done) == EXPECTED
    assert [line for line, _, _ in row_errors(job_id)] == [7]
    assert members(mailing_list.id)["a@example.com"] == ("A", "confirmed")
    assert len(members(mailing_list.id)) == 8
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportAddress)) == 0
    assert not (imports.upload_dir() / done.stored_name).exists()


def test_the_same_file_in_one_go_gives_the_same_counts(import_file, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 1000)

    assert counts(import_file(FILE)) == EXPECTED


def test_a_job_killed_inside_a_chunk_leaves_nothing_of_it_and_the_sweep_resumes(
    app, upload, run_jobs, mailing_list, monkeypatch
):
    job_id = upload(FILE).id
    real_write = imports._write_subscribers
    calls = []

    def dies_in_second_chunk(job, chunk, now):
        calls.append(1)
        result = real_write(job, chunk, now)  # the rows are written ...
        if len(calls) == 2:
            raise RuntimeError("worker killed")  # ... but the chunk never commits
        return result

    monkeypatch.setattr(imports, "_write_subscribers", dies_in_second_chunk)
    run_jobs()
    assert failed_jobs(app) == 1  # RQ records the error

    died = fresh(job_id)
    assert (died.status, died.rows_seen, died.added, died.duplicates) == (ImportStatus.RUNNING, 3, 3, 0)
    assert len(members(mailing_list.id)) == 3
    assert died.lease_token is not None  # the dead job's lease still holds it ...
    assert imports.maintain() == 0  # ... until it expires
    expire_lease(job_id)
    queue.maintenance()  # the periodic sweep, through RQ like the workers run it

    run_jobs()

    done = fresh(job_id)
    assert done.status == ImportStatus.DONE
    assert counts(done) == EXPECTED
    assert len(members(mailing_list.id)) == 8
    assert len(row_errors(job_id)) == 1


def test_no_second_job_works_on_an_import_while_a_lease_holds_it(upload, run_jobs):
    job_id = upload(FILE).id
    token = imports._claim(job_id)

    assert imports.process(job_id) is None
    assert fresh(job_id).rows_seen == 0
    # The holder's lease is lost to the sweep: its next chunk is refused, and it stops.
    expire_lease(job_id)
    imports.maintain()
    assert imports.process(job_id) == ImportStatus.DONE
    assert imports._store(job_id, token, imports._Chunk(rows=5, at_end=True), imports._Layout(",")) is False
    assert counts(fresh(job_id)) == EXPECTED


def test_an_import_whose_doorbell_was_lost_is_enqueued_again(upload, run_jobs, redis_conn):
    job_id = upload(FILE).id
    redis_conn.flushdb()  # the enqueue never reached a worker
    run_jobs()
    assert fresh(job_id).status == ImportStatus.PENDING

    assert imports.maintain() == 0  # within the pick-up grace nothing happens
    expire_lease(job_id)
    assert imports.maintain() == 1
    assert imports.maintain() == 0  # enqueued once, not on every sweep
    run_jobs()

    assert counts(fresh(job_id)) == EXPECTED


def test_an_import_that_keeps_dying_fails(upload, run_jobs):
    job = upload(FILE)
    db.session.execute(
        sa.update(SubscriberImport).where(SubscriberImport.id == job.id).values(attempts=imports.MAX_ATTEMPTS)
    )
    db.session.commit()

    run_jobs()

    failed = fresh(job.id)
    assert failed.status == ImportStatus.FAILED
    assert failed.error == f"the import stopped {imports.MAX_ATTEMPTS} times without progress; see the worker log"
    assert failed.finished_at is not None
    assert not (imports.upload_dir() / failed.stored_name).exists()
    assert imports.maintain() == 0  # a failed import is never re-driven


def test_an_import_whose_file_is_gone_fails(upload, run_jobs):
    job = upload(FILE)
    (imports.upload_dir() / job.stored_name).unlink()

    run_jobs()

    failed = fresh(job.id)
    assert (failed.status, failed.error) == (ImportStatus.FAILED, "the uploaded file is gone; upload it again")


def test_the_sweep_deletes_finished_uploads_and_old_orphans_only(upload, import_file, owner):
    finished = import_file("a@example.com\n")
    running = upload(FILE)  # not yet picked up by a job
    folder = imports.upload_dir()
    leftover = folder / finished.stored_name
    leftover.write_bytes(b"a@example.com\n")  # say the job died after the commit that finished it
    old_orphan, new_orphan = folder / "0123.csv", folder / "4567.csv.part"
    old_orphan.write_bytes(b"x")
    new_orphan.write_bytes(b"x")
    hours_ago = time.time() - 2 * 3600
    os.utime(old_orphan, (hours_ago, hours_ago))

    imports.maintain()

    assert sorted(path.name for path in folder.iterdir()) == sorted([running.stored_name, new_orphan.name])


def test_an_import_into_a_deleted_list_fails(upload, run_jobs, owner):
    other_list = make_list(owner.account_id, "Short-lived")
    job_id = upload(FILE, list_id=other_list.id).id

    lists.delete(owner.account_id, other_list.id)
    if db.session.scalar(sa.select(SubscriberImport.id).where(SubscriberImport.id == job_id)) is None:
        return  # PostgreSQL: the import went with its list (ON DELETE CASCADE)
    run_jobs()  # SQLite enforces no foreign keys here: the import outlives its list

    assert (fresh(job_id).status, fresh(job_id).error) == (ImportStatus.FAILED, "the list was deleted")
