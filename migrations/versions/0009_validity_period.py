"""engagements.validity_period: seconds a text may wait, from its queueing, to reach the carrier

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 20:30:00.000000

A new nullable column: null is "no limit", what every existing engagement had, so no row needs
to move. Plain ALTER TABLE (see 0006: no batch rebuild of `engagements`).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('engagements', sa.Column('validity_period', sa.Integer(), nullable=True))


def downgrade():
    # SQLite has had DROP COLUMN since 3.35.
    op.execute("ALTER TABLE engagements DROP COLUMN validity_period")
