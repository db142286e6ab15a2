"""audience: erasure tombstones and indexes for finding subscribers across lists (issues 5 and 6)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('erased_addresses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('erased_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_erased_addresses_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erased_addresses')),
    sa.UniqueConstraint('account_id', 'digest', name=op.f('uq_erased_addresses_account_id_digest'))
    )
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.create_index('ix_subscribers_account_email', ['account_id', 'email'], unique=False)
        batch_op.create_index('ix_subscribers_account_status', ['account_id', 'status', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index('ix_subscribers_account_status')
        batch_op.drop_index('ix_subscribers_account_email')

    op.drop_table('erased_addresses')
