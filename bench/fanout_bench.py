"""Fan-out of a large list on the real schema / a raw INSERT ... SELECT of the same rows.

    .venv/bin/python bench/fanout_bench.py [--subscribers 100000] [--reps 3]

Ours is ``services.campaigns.fan_out``: the suppression check, the per-row Message-ID, the
``queued`` timeline events, chunked commits, and the campaign counters' triggers. The baseline
is one bare INSERT ... SELECT of the same rows into the same indexed ``sent_emails`` table,
with the triggers off. SQLite by default; BENCH_DATABASE_URL
points it at PostgreSQL.
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

import sqlalchemy as sa
from common import bench_list, make_instance, median

RAW = """
INSERT INTO sent_emails (account_id, campaign_id, subscriber_id, recipient, kind, status, message_id,
                         attempt_count, created_at, updated_at)
SELECT s.account_id, :campaign_id, s.id, s.email, 'campaign', 'queued',
       '<' || s.id || '.' || :campaign_id || '@example.com>', 0, :now, :now
FROM subscribers AS s WHERE s.list_id = :list_id AND s.status = 'confirmed'
"""


@contextmanager
def counter_triggers_off(db):
    """The baseline writes the bare table: the campaign counters' triggers (migration 0013) are
    part of our cost, so they are off while the raw INSERT runs, and back on after."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("ALTER TABLE sent_emails DISABLE TRIGGER USER"))
        db.session.commit()
        try:
            yield
        finally:
            db.session.execute(sa.text("ALTER TABLE sent_emails ENABLE TRIGGER USER"))
            db.session.commit()
        return
    triggers = db.session.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'sent_emails'")
    ).all()
    for name, _sql in triggers:
        db.session.execute(sa.text(f"DROP TRIGGER {name}"))
    db.session.commit()
    try:
        yield
    finally:
        for _name, sql in triggers:
            db.session.execute(sa.text(sql))
        db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    make_instance()

    from app.extensions import db
    from app.models import Campaign, CampaignStatus, EmailEvent, SentEmail
    from app.models.base import UTCDateTime, utcnow
    from app.services import campaigns

    app, user, mailing_list = bench_list(args.subscribers)

    def clear() -> None:
        db.session.execute(sa.delete(EmailEvent))
        db.session.execute(sa.delete(SentEmail))
        db.session.commit()

    ours, raws = [], []
    for rep in range(args.reps):
        campaign = campaigns.create(
            user.account_id,
            {
                "list_id": mailing_list.id,
                "subject": f"Fan-out {rep}",
                "from_email": "news@example.com",
                "body_format": "markdown",
                "body": "x",
            },
        )
        db.session.execute(sa.update(Campaign).where(Campaign.id == campaign.id).values(status=CampaignStatus.SENDING))
        db.session.commit()
        start = time.perf_counter()
        added = campaigns.fan_out(campaign.id)
        ours.append(time.perf_counter() - start)
        assert added == args.subscribers
        clear()

        now = UTCDateTime().process_bind_param(utcnow(), None)
        with counter_triggers_off(db):
            start = time.perf_counter()
            db.session.execute(sa.text(RAW), {"campaign_id": campaign.id, "list_id": mailing_list.id, "now": now})
            db.session.commit()
            raws.append(time.perf_counter() - start)
            clear()
        print(
            f"rep {rep + 1}: ours {args.subscribers / ours[-1]:9.0f} rows/s ({ours[-1]:.2f} s), "
            f"raw INSERT ... SELECT {args.subscribers / raws[-1]:9.0f} rows/s ({raws[-1]:.2f} s), "
            f"ratio {raws[-1] / ours[-1]:.3f}",
            flush=True,
        )
    kind = db.engine.dialect.name
    print(f"\nmedian of {args.reps}, {args.subscribers} subscribers, {kind}:")
    print(f"  fan-out / raw INSERT ... SELECT : {median(raws) / median(ours):.3f}  (target >= 0.8)")


if __name__ == "__main__":
    main()
