"""accounts.rate_limit: the operator's override of CAMPAIGN_API_RATE_LIMIT for one account

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 00:10:00.000000

A new nullable column: null is "the setting", what every existing account had, so no row needs
to move. Plain ALTER TABLE.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('accounts', sa.Column('rate_limit', sa.String(length=32), nullable=True))


def downgrade():
    # SQLite has had DROP COLUMN since 3.35.
    op.execute("ALTER TABLE accounts DROP COLUMN rate_limit")
