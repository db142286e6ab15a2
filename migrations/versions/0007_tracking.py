"""tracking: tracked links, opens and clicks, tracking settings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 00:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('tracked_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_tracked_links_campaign_id_campaigns')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracked_links')),
    sa.UniqueConstraint('campaign_id', 'position', name=op.f('uq_tracked_links_campaign_id_position')),
    sa.UniqueConstraint('campaign_id', 'url', name=op.f('uq_tracked_links_campaign_id_url'))
    )
    op.create_table('email_opens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('machine', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=False),
    sa.Column('ip_prefix', sa.String(length=45), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_email_opens_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['email_id'], ['sent_emails.id'], name=op.f('fk_email_opens_email_id_sent_emails')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_opens'))
    )
    with op.batch_alter_table('email_opens', schema=None) as batch_op:
        batch_op.create_index('ix_email_opens_campaign_at', ['campaign_id', 'at'], unique=False)
        batch_op.create_index('ix_email_opens_campaign_machine', ['campaign_id', 'machine', 'email_id'], unique=False)
        batch_op.create_index('ix_email_opens_email_id', ['email_id'], unique=False)

    op.create_table('email_clicks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('machine', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=False),
    sa.Column('ip_prefix', sa.String(length=45), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_email_clicks_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['email_id'], ['sent_emails.id'], name=op.f('fk_email_clicks_email_id_sent_emails')),
    sa.ForeignKeyConstraint(['link_id'], ['tracked_links.id'], name=op.f('fk_email_clicks_link_id_tracked_links')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_clicks'))
    )
    with op.batch_alter_table('email_clicks', schema=None) as batch_op:
        batch_op.create_index('ix_email_clicks_campaign_at', ['campaign_id', 'at'], unique=False)
        batch_op.create_index('ix_email_clicks_campaign_link', ['campaign_id', 'link_id', 'machine', 'email_id'], unique=False)
        batch_op.create_index('ix_email_clicks_email_at', ['email_id', 'at'], unique=False)

    # Privacy settings: on unless turned off, for existing lists and campaigns too.
    with op.batch_alter_table('mailing_lists', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tracking', sa.Boolean(), server_default=sa.true(), nullable=False))

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('track_opens', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('track_clicks', sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('track_clicks')
        batch_op.drop_column('track_opens')

    with op.batch_alter_table('mailing_lists', schema=None) as batch_op:
        batch_op.drop_column('tracking')

    with op.batch_alter_table('email_clicks', schema=None) as batch_op:
        batch_op.drop_index('ix_email_clicks_email_at')
        batch_op.drop_index('ix_email_clicks_campaign_link')
        batch_op.drop_index('ix_email_clicks_campaign_at')

    op.drop_table('email_clicks')
    with op.batch_alter_table('email_opens', schema=None) as batch_op:
        batch_op.drop_index('ix_email_opens_email_id')
        batch_op.drop_index('ix_email_opens_campaign_machine')
        batch_op.drop_index('ix_email_opens_campaign_at')

    op.drop_table('email_opens')
    op.drop_table('tracked_links')
