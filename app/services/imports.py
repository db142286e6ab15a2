"""Subscriber imports from CSV files, and CSV exports of a list.

``create`` streams an upload to a file under ``instance/imports/`` (never whole in memory),
commits an import record and rings its job's doorbell. ``process`` (the job) reads the file
from the record's cursor one chunk of rows at a time; a chunk's new subscribers, row errors,
counts and cursor are one transaction, so a job that dies resumes after the last committed
chunk and counts nothing twice, and only the job holding the import's lease may commit.
Addresses follow the single-subscribe rules (``validation.email_address``). An address already
on the list is left as it is: its name and status stay, an unsubscribed one is not
resubscribed. A repeat within the file counts once, however far apart the two lines are. An
address erased at its owner's request (``audience.erased_among``) is a row error, as it is when
added by hand. With a header row, every column other than the address, name and status (and the
export's timestamps) is a custom attribute of the new subscribers, named by its header, its
cells text (``personalise.attributes`` checks them; an empty cell sets nothing); a header that
cannot name an attribute fails the import before any row is written.
``maintain`` (the periodic sweep) re-drives imports whose job vanished and deletes finished
uploads. ``export`` yields a list as CSV in keyset batches.

Raises ValidationFailed for bad input, TooLarge for an upload over ``IMPORT_MAX_BYTES``,
NotFound for another account's list or import.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.jobs import queue
from app.models import (
    ImportAddress,
    ImportRowError,
    ImportStatus,
    MailingList,
    Subscriber,
    SubscriberImport,
    SubscriberStatus,
)
from app.models.base import UTCDateTime, utcnow
from app.services import audience, audit, lists, personalise, subscribers, validation
from app.services.errors import ServiceError, ValidationFailed, capitalised
from app.services.scope import owned

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
CHUNK_ROWS = 500  # rows per transaction; a chunk's memory is what the job needs at most
COPY_BLOCK = 64 * 1024
MAX_LINE_BYTES = 16 * 1024  # a longer line is a row error, never read whole
MAX_RECORD_LINES = 10  # a quoted field still open after this many lines is taken as unclosed
MAX_STORED_ERRORS = 10_000  # beyond this an import still counts bad rows but keeps no more of them
MAX_ATTEMPTS = 5  # claims in a row without a committed chunk before the import fails
LEASE = timedelta(minutes=2)  # renewed by every chunk; a chunk takes well under a second
REDRIVE_AFTER = timedelta(minutes=2)  # an import no job has picked up by then is enqueued again
JOB_SECONDS = 300.0  # one job's share; the rest goes to a fresh job (RQ's timeout is 900 s)
ORPHAN_AGE = timedelta(hours=1)  # an upload file no import record names is deleted after this
EXPORT_BATCH = 1000
EXPORT_COLUMNS = ("email", "name", "status", "created_at", "confirmed_at", "unsubscribed_at")
# A cell starting with one of these is a formula to a spreadsheet: exports prefix it with '.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

_EMAIL_HEADERS = {"email", "e-mail", "email address", "e-mail address", "email_address", "emailaddress"}
_NAME_HEADERS = {"name", "full name", "full_name", "fullname", "display name"}
# Columns that are no attribute: the subscriber's own fields, and the export's timestamps.
_NOT_ATTRIBUTES = _EMAIL_HEADERS | _NAME_HEADERS | {"status", "created_at", "confirmed_at", "unsubscribed_at"}
ERASED = "This address was erased at its owner's request; they can subscribe again themselves"
_DELIMITERS = ",;\t"


class TooLarge(ServiceError):
    code = "request_entity_too_large"
    status = 413


def max_bytes() -> int:
    """The upload size limit: ``IMPORT_MAX_BYTES`` from the app's config or the environment."""
    configured = current_app.config.get("IMPORT_MAX_BYTES") or os.environ.get("IMPORT_MAX_BYTES")
    return int(configured or DEFAULT_MAX_BYTES)


def upload_dir() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.3g} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


# Reading imports


def query(account_id: int, list_id: int) -> sa.Select:
    """The list's imports, newest first (NotFound for another account's list)."""
    lists.get(account_id, list_id)
    return (
        sa.select(SubscriberImport)
        .where(SubscriberImport.account_id == account_id, SubscriberImport.list_id == list_id)
        .order_by(SubscriberImport.id.desc())
    )


def get(account_id: int, import_id: int) -> SubscriberImport:
    return owned(SubscriberImport, account_id, import_id, "import")


def row_errors(account_id: int, import_id: int) -> sa.Select:
    """The import's stored row errors in file order."""
    get(account_id, import_id)
    return sa.select(ImportRowError).where(ImportRowError.import_id == import_id).order_by(ImportRowError.id)


def summary(job: SubscriberImport) -> str:
    """The counts in one sentence, e.g. ``"3 added, 2 already on the list, 1 invalid"``."""
    parts = [
        f"{job.added:,} added",
        f"{job.already_on_list:,} already on the list",
        f"{job.skipped_unsubscribed:,} unsubscribed (skipped)" if job.skipped_unsubscribed else "",
        f"{job.invalid:,} invalid" if job.invalid else "",
        f"{job.duplicates:,} repeated in the file" if job.duplicates else "",
    ]
    return ", ".join(part for part in parts if part)


# Uploading


def create(
    account_id: int,
    list_id: int,
    source: BinaryIO,
    filename: str = "",
    status: str = SubscriberStatus.CONFIRMED.value,
    *,
    length: int | None = None,
) -> SubscriberImport:
    """Save the upload (``length`` is its announced size, when known), commit the import, start its job."""
    mailing_list = lists.get(account_id, list_id)
    wanted = subscriber_status(status)
    limit = max_bytes()
    if length is not None and length > limit:
        raise _too_large(limit)
    stored = f"{secrets.token_hex(16)}.csv"
    path = upload_dir() / stored
    size = _save(source, path, limit)
    if size == 0:
        path.unlink(missing_ok=True)
        raise ValidationFailed("the file is empty", "file")
    now = utcnow()
    job = SubscriberImport(
        account_id=account_id,
        list_id=mailing_list.id,
        filename=_display_name(filename),
        stored_name=stored,
        subscriber_status=wanted,
        total_bytes=size,
        # No job has it yet: the sweep enqueues it again if the doorbell's ring is lost.
        lease_expires_at=now + REDRIVE_AFTER,
        created_at=now,
    )
    db.session.add(job)
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        path.unlink(missing_ok=True)
        raise
    _ring(job.id)
    return job


def subscriber_status(value: str) -> SubscriberStatus:
    if value not in (SubscriberStatus.CONFIRMED.value, SubscriberStatus.PENDING.value):
        raise ValidationFailed("status must be confirmed or pending", "status")
    return SubscriberStatus(value)


def _save(source: BinaryIO, path: Path, limit: int) -> int:
    """Copy ``source`` to ``path`` block by block; TooLarge (and nothing kept) past ``limit`` bytes."""
    partial = path.with_name(path.name + ".part")
    size = 0
    try:
        with partial.open("xb") as out:
            while block := source.read(COPY_BLOCK):
                size += len(block)
                if size > limit:
                    raise _too_large(limit)
                out.write(block)
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    return size


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the file is larger than the {megabytes(limit)} limit; split it into smaller files", "file")


def _display_name(filename: str) -> str:
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or "upload.csv"


def _ring(import_id: int) -> None:
    # The doorbell, as app/jobs/queue.py rings the engine's jobs: Redis down, the sweep re-drives.
    queue._enqueue("app.jobs.imports.process_import", import_id)


# Processing (the job)


def process(import_id: int, *, budget: float = JOB_SECONDS, max_chunks: int | None = None) -> ImportStatus | None:
    """Import from the cursor until the file ends, ``budget`` seconds or ``max_chunks`` chunks pass.

    Returns the import's status afterwards: RUNNING when time ran out (a new job is enqueued
    for the rest), or None when there was nothing to do (finished, gone, or another job holds
    the lease, or this job lost it).
    """
    token = _claim(import_id)
    if token is None:
        return None
    job = db.session.get(SubscriberImport, import_id)
    if job.attempts > MAX_ATTEMPTS:
        return _fail(job, token, f"the import stopped {MAX_ATTEMPTS} times without progress; see the worker log")
    if db.session.get(MailingList, job.list_id) is None:
        return _fail(job, token, "the list was deleted")
    path = upload_dir() / job.stored_name
    if not path.exists():
        return _fail(job, token, "the uploaded file is gone; upload it again")
    deadline = time.monotonic() + budget
    chunks = 0
    try:
        with path.open("rb") as fh:
            layout = _Layout.of(job, fh)
            lines = _Lines(fh, job.processed_bytes, job.lines_read)
            rows = _rows(lines, layout)
            while True:
                chunk = _read_chunk(rows, lines, layout, CHUNK_ROWS)
                if not _store(import_id, token, chunk, layout):
                    return None
                chunks += 1
                if chunk.at_end:
                    break
                if time.monotonic() > deadline or (max_chunks is not None and chunks >= max_chunks):
                    _release(import_id, token)
                    _ring(import_id)
                    return ImportStatus.RUNNING
    except _BadHeader as exc:
        db.session.rollback()
        message = f"{exc}. Every column but the address, name and status is a custom attribute named by its header"
        return _fail(job, token, message)
    except BaseException:
        # Nothing of a half-written chunk may stay; the lease runs out and the sweep re-drives.
        db.session.rollback()
        raise
    path.unlink(missing_ok=True)
    return ImportStatus.DONE


def _claim(import_id: int) -> str | None:
    """Take the import's lease (free, or expired) and count the attempt; the token, or None."""
    now = utcnow()
    token = secrets.token_hex(16)
    claimed = db.session.execute(
        sa.update(SubscriberImport)
        .where(
            SubscriberImport.id == import_id,
            SubscriberImport.status.in_([ImportStatus.PENDING, ImportStatus.RUNNING]),
            sa.or_(SubscriberImport.lease_token.is_(None), SubscriberImport.lease_expires_at < now),
        )
        .values(
            lease_token=token,
            lease_expires_at=now + LEASE,
            status=ImportStatus.RUNNING,
            attempts=SubscriberImport.attempts + 1,
        )
    ).rowcount
    if not claimed:
        db.session.rollback()
        return None
    job = db.session.get(SubscriberImport, import_id)
    job.started_at = job.started_at or now
    db.session.commit()
    return token


def _release(import_id: int, token: str) -> None:
    db.session.execute(
        sa.update(SubscriberImport)
        .where(SubscriberImport.id == import_id, SubscriberImport.lease_token == token)
        .values(lease_token=None, lease_expires_at=utcnow() + REDRIVE_AFTER)
    )
    db.session.commit()


def _fail(job: SubscriberImport, token: str, message: str) -> ImportStatus:
    if job.lease_token == token:
        job.status, job.error, job.finished_at = ImportStatus.FAILED, message, utcnow()
        job.lease_token = job.lease_expires_at = None
        db.session.execute(sa.delete(ImportAddress).where(ImportAddress.import_id == job.id))
        db.session.commit()
        (upload_dir() / job.stored_name).unlink(missing_ok=True)
    return ImportStatus.FAILED


@dataclass
class _Layout:
    """How the file reads: its delimiter and columns (fixed by its first non-blank row)."""

    delimiter: str
    has_header: bool | None = None
    email_column: int | None = None
    name_column: int | None = None
    status_column: int | None = None
    attribute_columns: dict[int, str] = field(default_factory=dict)  # column -> attribute name

    @classmethod
    def of(cls, job: SubscriberImport, fh: BinaryIO) -> _Layout:
        if job.delimiter is None:
            return cls(_sniff_delimiter(fh))
        layout = cls(job.delimiter, job.has_header, job.email_column, job.name_column, job.status_column)
        if job.has_header:
            # A resumed job reads the header again for the attribute columns (the record keeps
            # the fixed columns only); the same file gives the same answer.
            header = next(row for row in _rows(_Lines(fh, 0, 0), layout) if row.cells is not None)
            layout.attribute_columns = _attribute_columns(header.cells)
        return layout

    @property
    def decided(self) -> bool:
        return self.email_column is not None

    def decide(self, cells: list[str]) -> bool:
        """Read the first row: True when it is a header (and so no subscriber)."""
        names = [cell.strip().lower() for cell in cells]
        email = next((i for i, name in enumerate(names) if name in _EMAIL_HEADERS), None)
        self.has_header = email is not None
        if email is None:
            self.email_column, self.name_column = 0, 1
            return False
        self.email_column = email
        self.name_column = next((i for i, name in enumerate(names) if name in _NAME_HEADERS), None)
        self.status_column = next((i for i, name in enumerate(names) if name == "status"), None)
        self.attribute_columns = _attribute_columns(cells)
        return True


class _BadHeader(Exception):
    """The header row cannot name the file's attributes: the import fails before any row."""


def _attribute_columns(cells: list[str]) -> dict[int, str]:
    """The header's attribute columns (index -> name); _BadHeader when one cannot be an attribute."""
    columns: dict[int, str] = {}
    for i, cell in enumerate(cells):
        name = cell.strip()
        if not name or name.lower() in _NOT_ATTRIBUTES:
            continue
        shown = _shown(name)[:40]
        if name in columns.values():
            raise _BadHeader(f"two columns are named “{shown}”; rename one")
        try:
            personalise.attributes({name: ""}, "attribute")
        except ValidationFailed as exc:
            raise _BadHeader(f"column {i + 1} (“{shown}”): {exc.message}") from None
        columns[i] = name
    if len(columns) > personalise.MAX_ATTRIBUTES:
        raise _BadHeader(f"{len(columns)} columns would be attributes; the limit is {personalise.MAX_ATTRIBUTES}")
    return columns


def _sniff_delimiter(fh: BinaryIO) -> str:
    """The first of , ; or tab outside quotes on the file's first non-blank line (default ,)."""
    fh.seek(0)
    for _ in range(100):
        raw = fh.readline(MAX_LINE_BYTES)
        if not raw:
            break
        text = raw.removeprefix(codecs.BOM_UTF8).decode("utf-8", "replace")
        if text.strip():
            quoted = False
            for ch in text:
                if ch == '"':
                    quoted = not quoted
                elif ch in _DELIMITERS and not quoted:
                    return ch
            break
    return ","


class _BadLine(Exception):
    def __init__(self, message: str, value: str):
        super().__init__(message)
        self.message, self.value = message, value


class _Unclosed(Exception):
    pass


class _Lines:
    """The file's physical lines from a byte offset, each decoded alone; it knows where it is.

    Feeds ``csv.reader``, which reads one line at a time and never ahead, so between two
    records ``offset`` and ``line_no`` are exactly the end of the last one: the resume cursor.
    A line too long, or not UTF-8, raises _BadLine; a record still open after
    MAX_RECORD_LINES lines raises _Unclosed.
    """

    def __init__(self, fh: BinaryIO, offset: int, line_no: int):
        self.fh = fh
        self.seek(offset, line_no)

    def seek(self, offset: int, line_no: int) -> None:
        self.fh.seek(offset)
        self.offset, self.line_no = offset, line_no
        self.begin()

    def begin(self) -> None:
        """A record starts at the next line."""
        self.record: list[str] = []
        self.after_first: tuple[int, int] | None = None

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        first_in_file = self.offset == 0
        self.offset += len(raw)
        self.line_no += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            self._skip_rest()
            raise _BadLine(f"Line is longer than {MAX_LINE_BYTES:,} bytes", raw.decode("utf-8", "replace"))
        if first_in_file:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            shown = raw.decode("utf-8", "replace")
            raise _BadLine(f"Not UTF-8 text (byte {exc.start + 1}); save the file as CSV UTF-8", shown) from None
        self.record.append(text)
        if len(self.record) == 1:
            self.after_first = (self.offset, self.line_no)
        elif len(self.record) > MAX_RECORD_LINES:
            raise _Unclosed
        return text

    def _skip_rest(self) -> None:
        while block := self.fh.readline(COPY_BLOCK):
            self.offset += len(block)
            if block.endswith(b"\n"):
                return


@dataclass
class _Row:
    line: int
    cells: list[str] | None = None  # None for a line that is no CSV row
    value: str = ""
    message: str = ""


def _rows(lines: _Lines, layout: _Layout) -> Iterator[_Row]:
    """Every non-blank record of the file as a _Row; an unreadable one as a _Row with a message.

    An error inside a multi-line record (an unclosed quote, usually) blames the record's first
    line and reading starts again on the next one, so one stray quote costs one row, not the
    rest of the file.
    """
    reader = csv.reader(lines, delimiter=layout.delimiter, strict=True)
    while True:
        lines.begin()
        line = lines.line_no + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except _BadLine as exc:
            if not lines.record:
                yield _Row(lines.line_no, value=exc.value, message=exc.message)
                continue
            yield _unclosed(lines, line)
            continue
        except (_Unclosed, csv.Error) as exc:
            if len(lines.record) > 1 or "end of data" in str(exc):
                yield _unclosed(lines, line)
            else:
                yield _Row(line, value=lines.record[0], message=f"Not a valid CSV row ({exc})")
            continue
        if any(cell.strip() for cell in cells):
            yield _Row(line, cells, value="".join(lines.record))


def _unclosed(lines: _Lines, line: int) -> _Row:
    row = _Row(line, value=lines.record[0], message="A quoted field is not closed on this line")
    if lines.after_first is not None and len(lines.record) > 1:
        lines.seek(*lines.after_first)
    return row


@dataclass
class _Entry:
    line: int
    name: str
    unsubscribed: bool
    attributes: dict = field(default_factory=dict)


@dataclass
class _Chunk:
    entries: dict[str, _Entry] = field(default_factory=dict)  # distinct addresses, first occurrence
    errors: list[_Row] = field(default_factory=list)
    rows: int = 0
    repeats: int = 0  # repeats of an address within this chunk
    offset: int = 0
    line_no: int = 0
    at_end: bool = False


def _read_chunk(rows: Iterator[_Row], lines: _Lines, layout: _Layout, size: int) -> _Chunk:
    chunk = _Chunk()
    for row in rows:
        first = row.cells is not None and not layout.decided
        if first and layout.decide(row.cells):
            continue  # the header row
        chunk.rows += 1
        if row.cells is None:
            chunk.errors.append(row)
        else:
            _take(chunk, row, layout, first)
        if chunk.rows >= size:
            break
    else:
        chunk.at_end = True
    chunk.offset, chunk.line_no = lines.offset, lines.line_no
    return chunk


def _take(chunk: _Chunk, row: _Row, layout: _Layout, first: bool) -> None:
    """Validate one row into the chunk: a new entry, a repeat, or an error."""
    raw = _cell(row.cells, layout.email_column)
    if not raw.strip():
        chunk.errors.append(_Row(row.line, value=row.value, message="The email column is empty"))
        return
    try:
        address = validation.email_address(_unguarded(raw))
    except ValidationFailed as exc:
        message = capitalised(exc.message)
        if first:  # the file's first row, read as data: perhaps a header we did not recognise
            message += ' (if this is a header row, name the address column "email")'
        chunk.errors.append(_Row(row.line, value=raw, message=message))
        return
    name_cell = _unguarded(_cell(row.cells, layout.name_column))
    try:
        name = validation.header_text(name_cell, "name", required=False, max_length=validation.MAX_NAME)
    except ValidationFailed as exc:
        chunk.errors.append(_Row(row.line, value=name_cell, message=capitalised(exc.message)))
        return
    cells = {name: _unguarded(_cell(row.cells, i)) for i, name in layout.attribute_columns.items()}
    try:
        attributes = personalise.attributes({name: value for name, value in cells.items() if value})
    except ValidationFailed as exc:
        column = (exc.field or "").partition(".")[2]
        if column:  # one cell: "Column “plan” must not contain control characters"
            message, value = f"Column “{column}” {exc.message.partition(' ')[2]}", cells[column]
        else:
            message, value = f"Attribute columns: {exc.message}", row.value
        chunk.errors.append(_Row(row.line, value=value, message=message))
        return
    if address in chunk.entries:
        chunk.repeats += 1
        return
    unsubscribed = _cell(row.cells, layout.status_column).strip().lower() == SubscriberStatus.UNSUBSCRIBED.value
    chunk.entries[address] = _Entry(row.line, name, unsubscribed, attributes)


def _cell(cells: list[str], column: int | None) -> str:
    return cells[column] if column is not None and column < len(cells) else ""


def _unguarded(value: str) -> str:
    """Undo the export's formula guard: ``'=x`` was ``=x``."""
    value = value.strip()
    return value[1:] if value[:1] == "'" and value[1:2] in FORMULA_STARTS else value


def _store(import_id: int, token: str, chunk: _Chunk, layout: _Layout) -> bool:
    """Write one chunk and move the cursor in one transaction; False when this job lost the lease."""
    now = utcnow()
    # First statement, first lock: on PostgreSQL it also makes a racing job wait here.
    held = db.session.execute(
        sa.update(SubscriberImport)
        .where(SubscriberImport.id == import_id, SubscriberImport.lease_token == token)
        .values(lease_expires_at=now + LEASE)
    ).rowcount
    if not held:
        db.session.rollback()
        return False
    job = db.session.get(SubscriberImport, import_id)
    counts, confirmations = _write_subscribers(job, chunk, now)
    room = max(0, MAX_STORED_ERRORS - job.invalid)
    if chunk.errors and room:
        db.session.execute(
            sa.insert(ImportRowError.__table__),
            [
                {"import_id": import_id, "line": e.line, "value": _shown(e.value), "message": e.message[:300]}
                for e in chunk.errors[:room]
            ],
        )
    job.rows_seen += chunk.rows
    job.invalid += len(chunk.errors)
    job.duplicates += chunk.repeats + counts["duplicates"]
    job.added += counts["added"]
    job.already_on_list += counts["already"]
    job.skipped_unsubscribed += counts["unsubscribed"]
    job.processed_bytes, job.lines_read = chunk.offset, chunk.line_no
    job.delimiter, job.has_header = layout.delimiter, layout.has_header
    job.email_column, job.name_column, job.status_column = layout.email_column, layout.name_column, layout.status_column
    job.attempts = 0
    if chunk.at_end:
        job.status, job.finished_at = ImportStatus.DONE, now
        job.lease_token = job.lease_expires_at = None
        db.session.execute(sa.delete(ImportAddress).where(ImportAddress.import_id == import_id))
    db.session.commit()
    batch = current_app.config["DELIVERY_BATCH_SIZE"]
    for start in range(0, len(confirmations), batch):
        queue.deliver_emails(confirmations[start : start + batch])
    return True


# A chunk's rows as a table made from one JSON parameter, per dialect. A multi-row VALUES would
# bind one parameter per cell, which the PostgreSQL driver holds several megabytes of per chunk.
_JSON_ROWS = {
    "sqlite": "SELECT json_extract(j.value, '$[0]') AS email, json_extract(j.value, '$[1]') AS name, "
    "json_extract(j.value, '$[2]') AS attributes FROM json_each(:rows) AS j",
    "postgresql": "SELECT j.value ->> 0 AS email, j.value ->> 1 AS name, j.value -> 2 AS attributes "
    "FROM json_array_elements(CAST(:rows AS json)) AS j",
}
# SQLite needs the WHERE before an upsert's ON CONFLICT, so as not to read it as a join's ON.
_FIRST_SEEN = """
INSERT INTO import_addresses (import_id, email)
SELECT :import_id, r.email FROM ({rows}) AS r WHERE true
ON CONFLICT (import_id, email) DO NOTHING
RETURNING email
"""
# IN, not a join: SQLite would scan the whole list for each chunk instead of using its index.
_ON_THE_LIST = """
SELECT email, status FROM subscribers
WHERE list_id = :list_id AND email IN (SELECT r.email FROM ({rows}) AS r)
"""
_ADD = """
INSERT INTO subscribers (account_id, list_id, email, name, status, created_at, confirmed_at, attributes)
SELECT :account_id, :list_id, r.email, r.name, :status, :now, CASE WHEN :confirmed THEN :now END, r.attributes
FROM ({rows}) AS r WHERE true
ON CONFLICT (list_id, email) DO NOTHING
RETURNING id
"""


def _write_subscribers(job: SubscriberImport, chunk: _Chunk, now: datetime) -> tuple[dict[str, int], list[int]]:
    """Add the chunk's new addresses to the list, set-based; the counts and any confirmation e-mails."""
    counts = {"added": 0, "already": 0, "unsubscribed": 0, "duplicates": 0}
    if not chunk.entries:
        return counts, []
    fresh = set(_run(_FIRST_SEEN, list(chunk.entries), import_id=job.id).scalars())
    counts["duplicates"] = len(chunk.entries) - len(fresh)  # met in an earlier chunk
    existing = dict(_run(_ON_THE_LIST, list(fresh), list_id=job.list_id).all()) if fresh else {}
    new = []
    for address in sorted(fresh, key=_line_of(chunk)):
        if address in existing:
            unsubscribed = existing[address] == SubscriberStatus.UNSUBSCRIBED.value
            counts["unsubscribed" if unsubscribed else "already"] += 1
        elif chunk.entries[address].unsubscribed:
            counts["unsubscribed"] += 1
        else:
            new.append(address)
    erased = audience.erased_among(job.account_id, new) if new else set()
    if erased:
        # Only the owner may bring an erased address back (through the subscribe page). The error
        # names the line, not the address: the report must not keep what the erasure removed.
        chunk.errors.extend(_Row(chunk.entries[a].line, value="", message=ERASED) for a in erased)
        chunk.errors.sort(key=lambda error: error.line)
        new = [address for address in new if address not in erased]
    if not new:
        return counts, []
    confirmed = job.subscriber_status == SubscriberStatus.CONFIRMED
    ids = (
        _run(
            _ADD,
            [(address, chunk.entries[address].name, chunk.entries[address].attributes) for address in new],
            account_id=job.account_id,
            list_id=job.list_id,
            status=job.subscriber_status.value,
            now=now,
            confirmed=confirmed,
        )
        .scalars()
        .all()
    )
    counts["added"] = len(ids)
    counts["already"] += len(new) - len(ids)  # subscribed by someone else a moment ago
    if confirmed or not ids:
        return counts, []
    # Pending: each new subscriber gets the same confirmation e-mail the subscribe form sends.
    pending = db.session.scalars(sa.select(Subscriber).where(Subscriber.id.in_(ids)).order_by(Subscriber.id)).all()
    return counts, [subscribers._queue_confirmation(subscriber).id for subscriber in pending]


def _run(sql: str, rows: list, **params) -> sa.CursorResult:
    """Run one of the statements above with ``rows`` (addresses, or (address, name, attributes)) as JSON."""
    pairs = [row if isinstance(row, tuple) else (row, "", {}) for row in rows]
    statement = sa.text(sql.format(rows=_JSON_ROWS[db.session.get_bind().dialect.name]))
    if "now" in params:
        statement = statement.bindparams(sa.bindparam("now", type_=UTCDateTime()))
    return db.session.execute(statement, {"rows": json.dumps(pairs)} | params)


def _line_of(chunk: _Chunk):
    return lambda address: chunk.entries[address].line


def _shown(value: str) -> str:
    """A bad row as the error report shows it: line breaks and NUL visible, bounded length."""
    shown = value.rstrip("\r\n").replace("\r", "\\r").replace("\n", "\\n").replace("\x00", "\\0")
    return shown if len(shown) <= 200 else shown[:199] + "…"


# The periodic sweep


def maintain(now: datetime | None = None) -> int:
    """Enqueue imports whose job vanished (lease expired, or never picked up); delete finished uploads."""
    now = now or utcnow()
    stalled = list(
        db.session.scalars(
            sa.select(SubscriberImport.id).where(
                SubscriberImport.status.in_([ImportStatus.PENDING, ImportStatus.RUNNING]),
                SubscriberImport.lease_expires_at < now,
            )
        )
    )
    if stalled:
        # Free the lease for whichever job comes next, and wait a while before the next re-drive.
        db.session.execute(
            sa.update(SubscriberImport)
            .where(SubscriberImport.id.in_(stalled), SubscriberImport.lease_expires_at < now)
            .values(lease_token=None, lease_expires_at=now + REDRIVE_AFTER)
        )
    db.session.commit()
    for import_id in stalled:
        _ring(import_id)
    _delete_uploads(now)
    return len(stalled)


def _delete_uploads(now: datetime) -> None:
    """Delete upload files of finished imports, and files no import names that are an hour old."""
    folder = upload_dir()
    files = {path.name.removesuffix(".part"): path for path in folder.iterdir() if path.is_file()}
    if not files:
        return
    statuses = dict(
        db.session.execute(
            sa.select(SubscriberImport.stored_name, SubscriberImport.status).where(
                SubscriberImport.stored_name.in_(list(files))
            )
        ).all()
    )
    db.session.commit()
    for name, path in files.items():
        status = statuses.get(name)
        if status is None:
            try:
                stale = now.timestamp() - path.stat().st_mtime > ORPHAN_AGE.total_seconds()
            except FileNotFoundError:
                continue
            if stale:
                path.unlink(missing_ok=True)
        elif ImportStatus(status).finished:
            path.unlink(missing_ok=True)


# Export


def export(account_id: int, list_id: int, status: str | None = None, *, user=None) -> Iterator[str]:
    """The list's subscribers as CSV text, a batch at a time (checks run before the first batch).

    The export is recorded in the audit log (``list_exported``, committed) before the first batch.
    """
    mailing_list = lists.get(account_id, list_id)
    stmt = sa.select(Subscriber.id, *(getattr(Subscriber, column) for column in EXPORT_COLUMNS)).where(
        Subscriber.list_id == mailing_list.id
    )
    if status:
        try:
            stmt = stmt.where(Subscriber.status == SubscriberStatus(status))
        except ValueError:
            raise ValidationFailed(f"unknown status {status!r}", "status") from None
    audit.record(
        "list_exported",
        account_id=account_id,
        user=user,
        target=f"list {mailing_list.id} ({mailing_list.name})",
        detail={"status": status or "all"},
    )
    db.session.commit()
    return _csv_batches(EXPORT_COLUMNS, stmt, Subscriber.id, _export_cells)


def export_filename(account_id: int, list_id: int) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", lists.get(account_id, list_id).name.lower()).strip("-") or "list"
    return f"{name[:60]}-subscribers-{utcnow():%Y-%m-%d}.csv"


def errors_csv(account_id: int, import_id: int) -> Iterator[str]:
    """The import's row errors as CSV text (line, value, message), a batch at a time."""
    get(account_id, import_id)
    stmt = sa.select(ImportRowError.id, ImportRowError.line, ImportRowError.value, ImportRowError.message).where(
        ImportRowError.import_id == import_id
    )
    return _csv_batches(("line", "value", "message"), stmt, ImportRowError.id, lambda row: row[1:])


def _export_cells(row) -> list:
    _, email, name, status, *times = row
    return [email, name, SubscriberStatus(status).value, *(moment.isoformat() if moment else "" for moment in times)]


def _csv_batches(header, stmt: sa.Select, key, cells) -> Iterator[str]:
    """``stmt``'s rows in ``key`` order as CSV, EXPORT_BATCH rows per string (keyset, never all at once)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    last = None
    while True:
        page = stmt.order_by(key).limit(EXPORT_BATCH)
        if last is not None:
            page = page.where(key > last)
        rows = db.session.execute(page).all()
        for row in rows:
            writer.writerow([guarded(cell) for cell in cells(row)])
        if out.tell():
            yield out.getvalue()
            out.seek(0)
            out.truncate()
        if len(rows) < EXPORT_BATCH:
            return
        last = rows[-1][0]


def guarded(value) -> str:
    """A cell a spreadsheet will not run as a formula: ``=1+1`` becomes ``'=1+1``."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
