"""campaign counters kept by triggers: counts per status and deliveries/bounces per minute (issue 5)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 10:00:00.000000

See app/models/campaign_counts.py. Updates are counted by triggers. PostgreSQL: a statement-level
trigger with transition tables, one grouped upsert per statement into the connection's own shard
(its backend pid). SQLite: row-level triggers into shard 0. Inserted rows are counted by fan-out,
per chunk, on both.
Existing rows are counted once, here.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

SQLITE_MINUTE = "CAST(strftime('%s', {}) AS INTEGER) / 60"
PG_MINUTE = "CAST(floor(extract(epoch FROM {}) / 60) AS bigint)"


def _sqlite_upsert_count(campaign: str, status: str, delta: str) -> str:
    return (
        "INSERT INTO campaign_status_counts (campaign_id, status, shard, n) "
        f"VALUES ({campaign}, {status}, 0, {delta}) "
        f"ON CONFLICT (campaign_id, status, shard) DO UPDATE SET n = n + {delta};"
    )


def _sqlite_upsert_activity(campaign: str, at: str, column: str) -> str:
    return (
        f"INSERT INTO campaign_activity (campaign_id, minute, shard, delivered, bounced) "
        f"VALUES ({campaign}, {SQLITE_MINUTE.format(at)}, 0, "
        f"{1 if column == 'delivered' else 0}, {1 if column == 'bounced' else 0}) "
        f"ON CONFLICT (campaign_id, minute, shard) DO UPDATE SET {column} = {column} + 1;"
    )


# No insert triggers: on SQLite three row triggers, even with a WHEN false for queued rows, made
# fan-out 22% slower, and PostgreSQL's statement trigger (a transition table of every inserted
# row) 17% slower (bench/fanout_bench.py). Fan-out, the only code that inserts campaign rows,
# counts its queued rows itself, per chunk (app/delivery/fanout.py).
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER sent_emails_counts_status AFTER UPDATE OF status ON sent_emails
    WHEN NEW.campaign_id IS NOT NULL AND OLD.status IS NOT NEW.status
    BEGIN
        {_sqlite_upsert_count("OLD.campaign_id", "OLD.status", "-1")}
        {_sqlite_upsert_count("NEW.campaign_id", "NEW.status", "1")}
    END""",
    f"""CREATE TRIGGER sent_emails_activity_sent AFTER UPDATE OF sent_at ON sent_emails
    WHEN NEW.campaign_id IS NOT NULL AND OLD.sent_at IS NULL AND NEW.sent_at IS NOT NULL
    BEGIN {_sqlite_upsert_activity("NEW.campaign_id", "NEW.sent_at", "delivered")} END""",
    f"""CREATE TRIGGER sent_emails_activity_bounced AFTER UPDATE OF status ON sent_emails
    WHEN NEW.campaign_id IS NOT NULL AND NEW.status = 'bounced' AND OLD.status <> 'bounced'
    BEGIN {_sqlite_upsert_activity("NEW.campaign_id", "NEW.updated_at", "bounced")} END""",
]

# PostgreSQL forbids a column list on triggers with transition tables: the update trigger sees
# every UPDATE of sent_emails (lease renewals too) and keeps only the rows whose status or
# sent_at changed. Groups are upserted in key order.
PG_FUNCTIONS = [
    f"""CREATE FUNCTION postroom_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO campaign_status_counts (campaign_id, status, shard, n)
        SELECT campaign_id, status, pg_backend_pid(), sum(delta) FROM (
            SELECT n.campaign_id, n.status, 1 AS delta FROM new_rows AS n JOIN old_rows AS o USING (id)
            WHERE n.campaign_id IS NOT NULL AND n.status <> o.status
            UNION ALL
            SELECT o.campaign_id, o.status, -1 FROM new_rows AS n JOIN old_rows AS o USING (id)
            WHERE o.campaign_id IS NOT NULL AND n.status <> o.status
        ) AS moved GROUP BY campaign_id, status ORDER BY campaign_id, status
        ON CONFLICT (campaign_id, status, shard) DO UPDATE SET n = campaign_status_counts.n + EXCLUDED.n;
        INSERT INTO campaign_activity (campaign_id, minute, shard, delivered, bounced)
        SELECT campaign_id, minute, pg_backend_pid(), sum(delivered), sum(bounced) FROM (
            SELECT n.campaign_id, {PG_MINUTE.format("n.sent_at")} AS minute, 1 AS delivered, 0 AS bounced
            FROM new_rows AS n JOIN old_rows AS o USING (id)
            WHERE n.campaign_id IS NOT NULL AND o.sent_at IS NULL AND n.sent_at IS NOT NULL
            UNION ALL
            SELECT n.campaign_id, {PG_MINUTE.format("n.updated_at")}, 0, 1
            FROM new_rows AS n JOIN old_rows AS o USING (id)
            WHERE n.campaign_id IS NOT NULL AND n.status = 'bounced' AND o.status <> 'bounced'
        ) AS moments GROUP BY campaign_id, minute ORDER BY campaign_id, minute
        ON CONFLICT (campaign_id, minute, shard) DO UPDATE SET
            delivered = campaign_activity.delivered + EXCLUDED.delivered,
            bounced = campaign_activity.bounced + EXCLUDED.bounced;
        RETURN NULL;
    END $$""",
]
PG_TRIGGERS = [
    """CREATE TRIGGER sent_emails_counts_update AFTER UPDATE ON sent_emails
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION postroom_counts_update()""",
]


def upgrade():
    op.create_table('campaign_status_counts',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('shard', sa.BigInteger(), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(
        ['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_status_counts_campaign_id_campaigns')
    ),
    sa.PrimaryKeyConstraint('campaign_id', 'status', 'shard', name=op.f('pk_campaign_status_counts'))
    )
    op.create_table('campaign_activity',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('minute', sa.BigInteger(), nullable=False),
    sa.Column('shard', sa.BigInteger(), nullable=False),
    sa.Column('delivered', sa.BigInteger(), nullable=False),
    sa.Column('bounced', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_activity_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('campaign_id', 'minute', 'shard', name=op.f('pk_campaign_activity'))
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    minute = PG_MINUTE if postgres else SQLITE_MINUTE
    # Lock out writers while counting what exists, so no change falls between count and trigger.
    if postgres:
        op.execute("LOCK TABLE sent_emails IN SHARE ROW EXCLUSIVE MODE")
    for statement in (PG_FUNCTIONS + PG_TRIGGERS) if postgres else SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute(
        "INSERT INTO campaign_status_counts (campaign_id, status, shard, n) "
        "SELECT campaign_id, status, 0, count(*) FROM sent_emails WHERE campaign_id IS NOT NULL "
        "GROUP BY campaign_id, status"
    )
    op.execute(
        "INSERT INTO campaign_activity (campaign_id, minute, shard, delivered, bounced) "
        f"SELECT campaign_id, minute, 0, sum(delivered), sum(bounced) FROM ("
        f"SELECT campaign_id, {minute.format('sent_at')} AS minute, 1 AS delivered, 0 AS bounced "
        "FROM sent_emails WHERE campaign_id IS NOT NULL AND sent_at IS NOT NULL "
        f"UNION ALL SELECT campaign_id, {minute.format('updated_at')}, 0, 1 "
        "FROM sent_emails WHERE campaign_id IS NOT NULL AND status = 'bounced'"
        ") AS moments GROUP BY campaign_id, minute"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER sent_emails_counts_update ON sent_emails")
        op.execute("DROP FUNCTION postroom_counts_update()")
    else:
        op.execute("DROP TRIGGER sent_emails_counts_status")
        for name in ("sent", "bounced"):
            op.execute(f"DROP TRIGGER sent_emails_activity_{name}")
    op.drop_table('campaign_activity')
    op.drop_table('campaign_status_counts')
