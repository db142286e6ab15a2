"""audience: roles, subscriber attributes and audit (issues 5 and 6)

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
    pass


def downgrade():
    pass
