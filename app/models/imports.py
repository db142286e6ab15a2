"""Subscriber imports: one uploaded CSV file, its progress cursor, counts and per-row errors."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, enum_column, utcnow
from app.models.enums import SubscriberStatus


class ImportStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (ImportStatus.DONE, ImportStatus.FAILED)


class SubscriberImport(db.Model):
    """An upload being (or having been) added to a list, chunk by chunk, by a background job.

    ``processed_bytes`` and ``lines_read`` are the resume cursor: each chunk's subscribers,
    counts and cursor are committed together, so a job that dies carries on from the last
    committed chunk and counts nothing twice. The job holding ``lease_token`` until
    ``lease_expires_at`` is the only one that may write a chunk.
    """

    __tablename__ = "subscriber_imports"
    __table_args__ = (
        sa.Index("ix_subscriber_imports_list_id", "list_id", "id"),
        sa.Index("ix_subscriber_imports_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("mailing_lists.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(sa.String(255))
    # The upload's name under instance/imports/; the file is deleted once the import finishes.
    stored_name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # What new subscribers become: confirmed, or pending with a confirmation e-mail.
    subscriber_status: Mapped[SubscriberStatus] = mapped_column(enum_column(SubscriberStatus, "subscriber_status"))
    status: Mapped[ImportStatus] = mapped_column(
        enum_column(ImportStatus, "import_status"), default=ImportStatus.PENDING
    )
    error: Mapped[str] = mapped_column(sa.String(500), default="")
    total_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    processed_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    lines_read: Mapped[int] = mapped_column(default=0)
    rows_seen: Mapped[int] = mapped_column(default=0)
    added: Mapped[int] = mapped_column(default=0)
    already_on_list: Mapped[int] = mapped_column(default=0)
    skipped_unsubscribed: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    # How the file reads, fixed by its first non-blank line and kept for a resumed job.
    delimiter: Mapped[str | None] = mapped_column(sa.String(1))
    has_header: Mapped[bool | None] = mapped_column()
    email_column: Mapped[int | None] = mapped_column()
    name_column: Mapped[int | None] = mapped_column()
    status_column: Mapped[int | None] = mapped_column()
    # Claims since the last committed chunk: an import that keeps dying without progress fails.
    attempts: Mapped[int] = mapped_column(default=0)
    lease_token: Mapped[str | None] = mapped_column(sa.String(32))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        return min(99, self.processed_bytes * 100 // self.total_bytes) if self.total_bytes else 0


class ImportRowError(db.Model):
    """One rejected row of an import: its first line number, the raw text and why."""

    __tablename__ = "import_row_errors"
    __table_args__ = (sa.Index("ix_import_row_errors_import_id", "import_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(sa.ForeignKey("subscriber_imports.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column()
    value: Mapped[str] = mapped_column(sa.String(200))
    message: Mapped[str] = mapped_column(sa.String(300))


class ImportAddress(db.Model):
    """An address a running import has already met, so a repeat later in the file counts once.

    Kept in the database (not in the job's memory) so a resumed job still knows; deleted when
    the import finishes.
    """

    __tablename__ = "import_addresses"

    import_id: Mapped[int] = mapped_column(sa.ForeignKey("subscriber_imports.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), primary_key=True)
