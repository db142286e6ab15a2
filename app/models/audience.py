"""What the audience pages add to the schema: erasure tombstones, and indexes for finding people.

An erased address leaves no trace but an ``erased_addresses`` row: an HMAC of the account and
the address under the instance's secret key. It cannot be read back, nor checked without the
key, yet it lets the account refuse to add the same person again by hand, through the API or
from an old CSV file (app/services/audience.py).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.lists import Subscriber


class ErasedAddress(db.Model):
    __tablename__ = "erased_addresses"
    __table_args__ = (sa.UniqueConstraint("account_id", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    # Hex HMAC-SHA256 of "<account id>:<address>" keyed with SECRET_KEY.
    digest: Mapped[str] = mapped_column(sa.String(64))
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Indexes on subscribers for the audience pages, declared here beside the queries that need
# them. One person across the account's lists (search by address, GDPR export and erase):
sa.Index("ix_subscribers_account_email", Subscriber.account_id, Subscriber.email)
# Everyone in one status across the lists, newest first (the status filter's keyset pages):
sa.Index("ix_subscribers_account_status", Subscriber.account_id, Subscriber.status, Subscriber.id)
