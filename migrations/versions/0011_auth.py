"""passwords and sessions (issue 6): session versions, TOTP, password-reset links

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 09:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

KINDS = ('campaign', 'confirmation', 'transactional')


def _kind(*extra):
    return sa.Enum(*KINDS, *extra, name='email_kind', native_enum=False, create_constraint=True, length=20)


def _set_kinds(old, new):
    """Replace the CHECK constraint of sent_emails.kind (a VARCHAR holding EmailKind's values)."""
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite cannot alter a constraint: batch mode copies the table with the new one.
        with op.batch_alter_table('sent_emails', schema=None, recreate='always') as batch_op:
            batch_op.alter_column('kind', existing_type=old, type_=new, existing_nullable=False)
    else:
        op.drop_constraint(op.f('ck_sent_emails_email_kind'), 'sent_emails', type_='check')
        op.create_check_constraint(op.f('ck_sent_emails_email_kind'), 'sent_emails',
                                   sa.column('kind').in_([*new.enums]))


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('totp_secret', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))

    _set_kinds(_kind(), _kind('password_reset'))

    op.create_table('password_reset_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('email_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['email_id'], ['sent_emails.id'], name=op.f('fk_password_reset_tokens_email_id_sent_emails')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_reset_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_reset_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_reset_tokens_token_hash'))
    )
    with op.batch_alter_table('password_reset_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_reset_tokens_email_id'), ['email_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_password_reset_tokens_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('password_reset_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_reset_tokens_user_id'))
        batch_op.drop_index(batch_op.f('ix_password_reset_tokens_email_id'))
    op.drop_table('password_reset_tokens')

    resets = "SELECT id FROM sent_emails WHERE kind = 'password_reset'"
    for table in ('delivery_attempts', 'email_events'):
        op.execute(f"DELETE FROM {table} WHERE email_id IN ({resets})")
    op.execute("DELETE FROM sent_emails WHERE kind = 'password_reset'")
    _set_kinds(_kind('password_reset'), _kind())

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_secret')
        batch_op.drop_column('session_version')
