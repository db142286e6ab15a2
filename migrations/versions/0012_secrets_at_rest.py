"""secrets at rest: encrypt provider SMTP URLs and webhook signing secrets (issue 6)

The columns become TEXT (ciphertext is longer than the plaintext), then every plaintext value is
encrypted in place with app/crypto.py, under the key the app uses: ENCRYPTION_KEY, or SECRET_KEY
when unset, read from the running app's settings (``flask db upgrade`` builds them with
app.config.load_settings, from the environment and .env) and from load_settings itself when run
without an app. Values already encrypted are left alone, so running it again changes nothing.
Downgrading decrypts every value (it needs the key that encrypted it) and narrows the columns.
Online only: ``--sql`` cannot read the rows it must rewrite.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 09:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

from app import crypto

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# table: [(column, length before, nullable)]
COLUMNS = {
    'providers': [('smtp_url', 1024, False)],
    'webhook_endpoints': [('secret', 100, False), ('previous_secret', 100, True)],
}


def upgrade():
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, length, nullable in columns:
                batch_op.alter_column(
                    column, existing_type=sa.String(length=length), type_=sa.Text(), existing_nullable=nullable
                )
    keys = crypto.keys()
    _rewrite(lambda value: value if crypto.is_encrypted(value) else crypto.encrypt(value, keys))


def downgrade():
    keys = crypto.keys()
    _rewrite(lambda value: crypto.decrypt(value, keys))
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column, length, nullable in columns:
                batch_op.alter_column(
                    column, existing_type=sa.Text(), type_=sa.String(length=length), existing_nullable=nullable
                )


def _rewrite(change):
    """Replace each stored value by ``change(value)``, row by row (these tables are small)."""
    conn = op.get_bind()
    for table, columns in COLUMNS.items():
        for column, _length, _nullable in columns:
            rows = sa.table(table, sa.column('id', sa.Integer), sa.column(column, sa.Text))
            found = conn.execute(sa.select(rows.c.id, rows.c[column]).where(rows.c[column].is_not(None))).all()
            for row_id, value in found:
                new = change(value)
                if new != value:
                    conn.execute(sa.update(rows).where(rows.c.id == row_id).values({column: new}))
