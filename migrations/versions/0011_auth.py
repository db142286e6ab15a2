"""placeholder, filled in by the work on issue 6

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 09:10:00.000000

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
