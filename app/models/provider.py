"""SMTP providers (relays) an account sends through, with their limits and warm-up."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.crypto import EncryptedText
from app.extensions import db
from app.models.base import UTCDateTime, utcnow

PASSWORD_MASK = "***"


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``: the only form of it ever shown."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unreadable URL)"
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url
    user, colon, _password = userinfo.partition(":")
    netloc = f"{user}:{PASSWORD_MASK}@{hostport}" if colon else f"{user}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


class Provider(db.Model):
    __tablename__ = "providers"
    __table_args__ = (sa.UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    # Recorded on every delivery attempt, so unique per account.
    name: Mapped[str] = mapped_column(sa.String(100))
    # Holds the password: shown only through ``redacted_url``, stored encrypted (app/crypto.py).
    smtp_url: Mapped[str] = mapped_column(EncryptedText)
    priority: Mapped[int] = mapped_column(default=0)
    weight: Mapped[int] = mapped_column(default=1)
    max_per_second: Mapped[float | None]
    daily_cap: Mapped[int | None]
    # Daily caps for the first days, e.g. "50,100,200,400,800"; then daily_cap applies.
    warmup_schedule: Mapped[str | None] = mapped_column(sa.Text)
    warmup_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def redacted_url(self) -> str:
        return redact_url(self.smtp_url)

    @property
    def warmup(self) -> list[int] | None:
        """The warm-up schedule as daily caps, or None."""
        if not self.warmup_schedule:
            return None
        return [int(part) for part in self.warmup_schedule.split(",")]
