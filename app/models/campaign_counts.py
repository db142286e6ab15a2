"""A campaign's numbers kept as its rows change, so its pages never count a large campaign.

The database keeps these tables itself, with triggers on ``sent_emails`` (migration 0013): a
status change moves one from the old status to the new; a ``sent_at`` written adds one to that
minute's deliveries; a change to ``bounced`` adds one to that minute's bounces. The trigger runs
inside the statement that changed the rows, so a count can never disagree with the ledger: both
commit or roll back together, whichever code path (engine, cancel, sweep, bounce, a hand-written
UPDATE) made the change. Inserts are counted by fan-out, the only code that inserts campaign
rows, in the same transaction (app/delivery/fanout.py): an insert trigger made fan-out 17-22%
slower.

On PostgreSQL each database connection adds to rows of its own (``shard`` is the server process
id): workers settling the same campaign at once never wait for, nor deadlock on, one shared
counter row. Readers add the shards up. On SQLite, which has one writer at a time, ``shard`` is 0.
``sent_emails`` rows of campaigns are never deleted (retention prunes attempts and events only);
deleting or inserting one by hand leaves the counts behind until
``flask campaigns recount --fix`` (``counters.rebuild``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class CampaignStatusCount(db.Model):
    __tablename__ = "campaign_status_counts"

    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    shard: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class CampaignActivity(db.Model):
    """Deliveries and bounces per minute (``minute`` = seconds since the epoch // 60, UTC)."""

    __tablename__ = "campaign_activity"

    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), primary_key=True)
    minute: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    shard: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    delivered: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    bounced: Mapped[int] = mapped_column(sa.BigInteger, default=0)
