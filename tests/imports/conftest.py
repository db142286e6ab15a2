"""Import fixtures: an owner with a list, and helpers that upload a file and run its job for real."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import ImportRowError, Subscriber, SubscriberImport
from app.services import imports
from tests.factories import make_list


@pytest.fixture(autouse=True)
def empty_upload_dir(app):
    """Uploads live in the session's instance folder: each test starts and ends with none."""

    def empty():
        for path in imports.upload_dir().iterdir():
            path.unlink()

    empty()
    yield
    empty()


@pytest.fixture
def owner(make_user):
    return make_user()


@pytest.fixture
def mailing_list(owner):
    return make_list(owner.account_id, "Readers", double_opt_in=False)


@pytest.fixture
def upload(owner, mailing_list):
    """Upload ``content`` (text or bytes) to the list through the service; the job is queued, not run."""

    def up(content: str | bytes, status: str = "confirmed", list_id: int | None = None) -> SubscriberImport:
        data = content.encode() if isinstance(content, str) else content
        return imports.create(owner.account_id, list_id or mailing_list.id, io.BytesIO(data), "subs.csv", status)

    return up


@pytest.fixture
def import_file(upload, run_jobs):
    """Upload ``content`` and run every queued job; the finished import, fresh from the database."""

    def run(content: str | bytes, status: str = "confirmed", list_id: int | None = None) -> SubscriberImport:
        job_id = upload(content, status, list_id).id
        run_jobs()
        return db.session.get(SubscriberImport, job_id)

    return run


def members(list_id: int) -> dict[str, tuple[str, str]]:
    """The list's subscribers: address -> (name, status)."""
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Subscriber.email, Subscriber.name, Subscriber.status).where(Subscriber.list_id == list_id)
    )
    return {email: (name, status.value) for email, name, status in rows}


def row_errors(import_id: int) -> list[tuple[int, str, str]]:
    rows = db.session.scalars(sa.select(ImportRowError).where(ImportRowError.import_id == import_id))
    return [(e.line, e.value, e.message) for e in rows]


def counts(job: SubscriberImport) -> dict[str, int]:
    return {
        key: getattr(job, key)
        for key in ("rows_seen", "added", "already_on_list", "skipped_unsubscribed", "invalid", "duplicates")
    }
