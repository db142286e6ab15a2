"""imports: subscriber CSV import jobs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subscriber_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('stored_name', sa.String(length=64), nullable=False),
    sa.Column('subscriber_status', sa.Enum('pending', 'confirmed', 'unsubscribed', name='subscriber_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('status', sa.Enum('pending', 'running', 'done', 'failed', name='import_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('total_bytes', sa.BigInteger(), nullable=False),
    sa.Column('processed_bytes', sa.BigInteger(), nullable=False),
    sa.Column('lines_read', sa.Integer(), nullable=False),
    sa.Column('rows_seen', sa.Integer(), nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('already_on_list', sa.Integer(), nullable=False),
    sa.Column('skipped_unsubscribed', sa.Integer(), nullable=False),
    sa.Column('invalid', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('delimiter', sa.String(length=1), nullable=True),
    sa.Column('has_header', sa.Boolean(), nullable=True),
    sa.Column('email_column', sa.Integer(), nullable=True),
    sa.Column('name_column', sa.Integer(), nullable=True),
    sa.Column('status_column', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_token', sa.String(length=32), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_subscriber_imports_account_id_accounts')),
    sa.ForeignKeyConstraint(['list_id'], ['mailing_lists.id'], name=op.f('fk_subscriber_imports_list_id_mailing_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriber_imports')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_subscriber_imports_stored_name'))
    )
    with op.batch_alter_table('subscriber_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriber_imports_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_subscriber_imports_list_id', ['list_id', 'id'], unique=False)
        batch_op.create_index('ix_subscriber_imports_status_lease', ['status', 'lease_expires_at'], unique=False)

    op.create_table('import_row_errors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('message', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['subscriber_imports.id'], name=op.f('fk_import_row_errors_import_id_subscriber_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_row_errors'))
    )
    with op.batch_alter_table('import_row_errors', schema=None) as batch_op:
        batch_op.create_index('ix_import_row_errors_import_id', ['import_id', 'id'], unique=False)

    op.create_table('import_addresses',
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['subscriber_imports.id'], name=op.f('fk_import_addresses_import_id_subscriber_imports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'email', name=op.f('pk_import_addresses'))
    )


def downgrade():
    op.drop_table('import_addresses')
    with op.batch_alter_table('import_row_errors', schema=None) as batch_op:
        batch_op.drop_index('ix_import_row_errors_import_id')

    op.drop_table('import_row_errors')
    with op.batch_alter_table('subscriber_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_subscriber_imports_status_lease')
        batch_op.drop_index('ix_subscriber_imports_list_id')
        batch_op.drop_index(batch_op.f('ix_subscriber_imports_account_id'))

    op.drop_table('subscriber_imports')
