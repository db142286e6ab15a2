"""The per-account suppression list: browse, add, remove, and import addresses in bulk.

An address on the list receives no campaign mail (the engine checks at fan-out and again just
before sending) until its optional ``expires_at`` passes; an expired row is kept for the record,
blocks nothing, and is renewed when the address is suppressed again. Every function is scoped
to one account and owns its transaction. Taking an address off the list is written to the audit
log (``suppression_removed``) in the same transaction, with the user who did it when given.
Raises ValidationFailed for bad input, Conflict for an address that is already suppressed,
NotFound for an id or address the account does not have.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, NamedTuple

import sqlalchemy as sa

from app.delivery.suppression import is_suppressed, suppress
from app.extensions import db
from app.models import Suppression, SuppressionReason
from app.models.base import utcnow
from app.services import audit, validation
from app.services.errors import Conflict, NotFound, ValidationFailed, capitalised
from app.services.scope import owned

REASONS = tuple(reason.value for reason in SuppressionReason)
MAX_DETAIL = 1024
IMPORT_CHUNK = 500
MAX_LINE = 1000  # characters; a longer line is an error, never an address
MAX_REPORTED_ERRORS = 1000  # beyond this an import still counts bad lines but lists no more of them
_HEADER_NAMES = {"email", "e-mail", "email address", "e-mail address", "email_address"}


class RowError(NamedTuple):
    line: int
    value: str
    message: str


@dataclass
class ImportResult:
    """What an import did: addresses newly suppressed, already suppressed, and bad lines."""

    added: int = 0
    already: int = 0
    errors: list[RowError] = field(default_factory=list)
    rejected: int = 0  # every bad line, also those beyond MAX_REPORTED_ERRORS

    def add(self, added: int, distinct: int) -> None:
        self.added += added
        self.already += distinct - added

    def reject(self, line: int, value: str, message: str) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, _shown(value), message))


def query(
    account_id: int, reason: str | None = None, email_contains: str | None = None, *, before_id: int | None = None
) -> sa.Select:
    """The account's suppressions, newest first; ``before_id`` continues after the last id seen."""
    stmt = sa.select(Suppression).where(Suppression.account_id == account_id)
    if reason:
        stmt = stmt.where(Suppression.reason == _reason(reason))
    if email_contains and email_contains.strip():
        stmt = stmt.where(Suppression.email.contains(email_contains.strip().lower(), autoescape=True))
    if before_id is not None:
        stmt = stmt.where(Suppression.id < before_id)
    return stmt.order_by(Suppression.id.desc())


def counts(account_id: int) -> dict[str, int]:
    """How many rows the account has per reason (every reason present, zero when none)."""
    rows = db.session.execute(
        sa.select(Suppression.reason, sa.func.count())
        .where(Suppression.account_id == account_id)
        .group_by(Suppression.reason)
    )
    result = dict.fromkeys(REASONS, 0)
    for reason, count in rows:
        result[SuppressionReason(reason).value] = count
    return result


def get(account_id: int, suppression_id: int) -> Suppression:
    return owned(Suppression, account_id, suppression_id, "suppression")


def active(account_id: int, email: str) -> bool:
    """Whether campaign mail to ``email`` is blocked right now (expired rows do not count)."""
    return is_suppressed(db.session, account_id, email.strip())


def add(
    account_id: int,
    email: str,
    reason: str = SuppressionReason.MANUAL.value,
    detail: str = "",
    expires_at: datetime | None = None,
) -> Suppression:
    """Suppress one address; renews an expired row; Conflict when it is already suppressed."""
    address = validation.email_address(email)
    wanted = _reason(reason)
    detail = validation.plain_text(detail, "detail", required=False, max_length=MAX_DETAIL)
    now = utcnow()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValidationFailed("expires_at must include a timezone", "expires_at")
        if expires_at <= now:
            when = f"{expires_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            raise ValidationFailed(f"the expiry {when} is in the past; leave it empty for no expiry", "expires_at")
    if not suppress(db.session, account_id, address, wanted, detail, expires_at):
        row = _find(account_id, address)
        if row is None or not _expired(row, now):
            held = f" ({row.reason.value}, since {row.created_at:%Y-%m-%d})" if row else ""
            db.session.rollback()
            raise Conflict(f"{address} is already on the suppression list{held}", "email")
        _renew(row, wanted, detail, expires_at, now)
    db.session.commit()
    return _find(account_id, address)


def remove(account_id: int, suppression_id: int, *, user=None) -> str:
    """Take one row off the list; return its address. NotFound for another account's id."""
    row = get(account_id, suppression_id)
    address = row.email
    _lift(account_id, row, user)
    return address


def remove_by_email(account_id: int, email: str, *, user=None) -> str:
    """Take ``email`` off the list; return the stored address. NotFound when it is not there."""
    try:
        address = validation.email_address(email)
    except ValidationFailed:
        address = (email or "").strip().lower()
    row = _find(account_id, address)
    if row is None:
        raise NotFound(f"{address or 'that address'} is not on the suppression list")
    _lift(account_id, row, user)
    return address


def _lift(account_id: int, row: Suppression, user) -> None:
    """Delete the row and record who lifted it, in one transaction."""
    detail = {"reason": row.reason.value}
    if row.detail:
        detail["note"] = row.detail[:200]
    audit.record("suppression_removed", account_id=account_id, user=user, target=row.email, detail=detail)
    db.session.delete(row)
    db.session.commit()


def import_csv(
    account_id: int,
    source: str | bytes | IO | Iterable[str],
    reason: str = SuppressionReason.MANUAL.value,
    detail: str = "imported",
    *,
    chunk: int = IMPORT_CHUNK,
) -> ImportResult:
    """Suppress every address in a CSV (a header row with an ``email`` column) or a plain list.

    ``source`` is text, bytes, a text or binary stream (read line by line, never whole) or any
    iterable of lines. Blank lines are skipped; a bad line (not an address, a CR or NUL inside,
    too long) is reported with its 1-based line number and the import goes on. Addresses are
    normalised and lower-cased, so case variants and repeats count once. Each chunk of lines is
    one transaction: an import that dies half-way keeps the chunks it committed.
    """
    wanted = _reason(reason)
    detail = validation.plain_text(detail, "detail", required=False, max_length=MAX_DETAIL)
    result = ImportResult()
    column: int | None = None  # the email column's index in CSV mode; None for one address per line
    delimiter = ","
    pending: dict[str, None] = {}  # this chunk's distinct addresses, in file order
    seen_first = False
    for number, line in enumerate(_lines(source), start=1):
        text = line.removesuffix("\n").removesuffix("\r")
        if number == 1:
            text = text.removeprefix("\ufeff")
        if "\r" in text or "\x00" in text:
            result.reject(number, text, "line contains a carriage return or NUL character")
            continue
        if len(text) > MAX_LINE:
            result.reject(number, text, f"line is longer than {MAX_LINE} characters")
            continue
        if not text.strip():
            continue
        if not seen_first:
            seen_first = True
            header = _header(text)
            if header is not None:
                column, delimiter = header
                continue
        value = _cell(text, column, delimiter)
        if value is None:
            result.reject(number, text, "this row has no value in the email column")
            continue
        try:
            address = validation.email_address(value)
        except ValidationFailed as exc:
            message = capitalised(exc.message.removeprefix("email is "))
            if column is None and ("," in value or ";" in value):
                message += ' (a CSV file needs a header row with an "email" column)'
            result.reject(number, value, message)
            continue
        if address in pending:
            result.already += 1
            continue
        pending[address] = None
        if len(pending) >= chunk:
            result.add(_store(account_id, pending, wanted, detail), len(pending))
            pending = {}
    if pending:
        result.add(_store(account_id, pending, wanted, detail), len(pending))
    return result


def _store(account_id: int, addresses: dict[str, None], reason: SuppressionReason, detail: str) -> int:
    """Suppress one chunk of distinct addresses in one transaction; return how many were added."""
    try:
        added = _write(account_id, addresses, reason, detail, bulk=True)
    except sa.exc.IntegrityError:
        # Another writer (the engine recording a bounce) suppressed one of these addresses
        # between the look-up and the insert: redo the chunk one address at a time.
        db.session.rollback()
        added = _write(account_id, addresses, reason, detail, bulk=False)
    db.session.commit()
    return added


def _write(account_id: int, addresses: dict[str, None], reason: SuppressionReason, detail: str, *, bulk: bool) -> int:
    now = utcnow()
    existing = _existing(account_id, list(addresses))
    added, new = 0, []
    for address in addresses:
        row = existing.get(address)
        if row is None:
            new.append(address)
        elif _expired(row, now):
            _renew(row, reason, detail, None, now)
            added += 1
    if bulk and new:
        # One multi-row INSERT: a row at a time costs twenty times as much on a big file.
        values = {"account_id": account_id, "reason": reason, "detail": detail, "created_at": now}
        db.session.execute(sa.insert(Suppression), [values | {"email": address} for address in new])
        added += len(new)
    elif new:
        added += sum(suppress(db.session, account_id, address, reason, detail) for address in new)
    return added


def _existing(account_id: int, addresses: list[str]) -> dict[str, Suppression]:
    rows = db.session.scalars(
        sa.select(Suppression).where(Suppression.account_id == account_id, Suppression.email.in_(addresses))
    )
    return {row.email: row for row in rows}


def _find(account_id: int, address: str) -> Suppression | None:
    return db.session.scalar(
        sa.select(Suppression).where(Suppression.account_id == account_id, Suppression.email == address)
    )


def _expired(row: Suppression, now: datetime) -> bool:
    return row.expires_at is not None and row.expires_at <= now


def _renew(row: Suppression, reason: SuppressionReason, detail: str, expires_at: datetime | None, now: datetime):
    row.reason, row.detail, row.created_at, row.expires_at = reason, detail, now, expires_at


def _reason(value: str | SuppressionReason) -> SuppressionReason:
    try:
        return SuppressionReason(value)
    except ValueError:
        raise ValidationFailed(f"reason {value!r} is not one of {', '.join(REASONS)}", "reason") from None


def _header(text: str) -> tuple[int, str] | None:
    """(index of the email column, delimiter) when ``text`` is a header row, else None."""
    delimiter = next((d for d in ",;\t" if d in text), ",")
    cells = [cell.strip().lower() for cell in _split(text, delimiter)]
    for index, cell in enumerate(cells):
        if cell in _HEADER_NAMES:
            return index, delimiter
    return None


def _cell(text: str, column: int | None, delimiter: str) -> str | None:
    if column is None:
        return text.strip()
    cells = _split(text, delimiter)
    if column >= len(cells) or not cells[column].strip():
        return None
    return cells[column].strip()


def _split(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([text], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return [text]


def _lines(source) -> Iterator[str]:
    """The lines of ``source``, at most MAX_LINE + 2 characters of each (the rest is dropped).

    Text and bytes are split on LF only, so a stray CR stays inside its line and is reported.
    """
    if isinstance(source, str):
        source = io.StringIO(source, newline="\n")
    elif isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    if not hasattr(source, "readline"):
        yield from source
        return
    if isinstance(source.read(0), bytes):
        source = io.TextIOWrapper(source, encoding="utf-8-sig", errors="replace", newline="\n")
    limit = MAX_LINE + 2
    while line := source.readline(limit):
        if len(line) == limit and not line.endswith("\n"):
            rest = line
            while rest and not rest.endswith("\n"):
                rest = source.readline(limit)
        yield line


def _shown(value: str) -> str:
    """A bad line as the error report shows it: control characters visible, bounded length."""
    shown = value.replace("\r", "\\r").replace("\x00", "\\0")
    return shown if len(shown) <= 120 else shown[:119] + "…"
