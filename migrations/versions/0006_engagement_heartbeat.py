"""engagements.heartbeat_at: the workers' sign of life, apart from the client's updated_at

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 07:30:00.000000

Until now send rounds and recounts wrote `updated_at`, so an engagement that sent moved in
lists sorted by `updated-at`. They now write `heartbeat_at`. Engagements that are scheduled or
sending get `heartbeat_at = updated_at`, so the sweep sees the same last sign of life across the
upgrade and does not re-dispatch them early. The downgrade folds the heartbeat back into
`updated_at` where it is later, as the old code would have written it.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, never batch mode: on SQLite a batch rebuild drops and recreates
# `engagements`, and with foreign keys on, that drop cascades to every activity, envelope and
# text of every engagement.


def upgrade():
    op.add_column('engagements', sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE engagements SET heartbeat_at = updated_at "
        "WHERE status IN ('scheduled', 'sending')"
    )


def downgrade():
    op.execute(
        "UPDATE engagements SET updated_at = heartbeat_at "
        "WHERE heartbeat_at IS NOT NULL AND heartbeat_at > updated_at"
    )
    # SQLite has had DROP COLUMN since 3.35.
    op.execute("ALTER TABLE engagements DROP COLUMN heartbeat_at")
