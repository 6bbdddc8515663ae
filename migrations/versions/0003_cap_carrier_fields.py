"""cap carrier-supplied text fields already stored

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 15:15:00.000000

Texts written before carrier fields were bounded may hold error details of any size (one
page of texts could be tens of megabytes) and, on SQLite, which does not enforce VARCHAR
lengths, over-long message ids and error codes. The bounds are those of
campaign/providers/fields.py at this revision, written out because a migration must not
change when the code does.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

MAX_ERROR_DETAIL = 1024
TRUNCATED = " [truncated]"


def upgrade():
    op.execute(
        sa.text(
            "UPDATE texts SET error_detail = substr(error_detail, 1, :keep) || :marker "
            "WHERE length(error_detail) > :limit"
        ).bindparams(
            keep=MAX_ERROR_DETAIL - len(TRUNCATED), marker=TRUNCATED, limit=MAX_ERROR_DETAIL
        )
    )
    op.execute("UPDATE texts SET provider_message_id = NULL WHERE length(provider_message_id) > 64")
    op.execute(
        "UPDATE texts SET error_code = 'invalid-carrier-code' WHERE length(error_code) > 32"
    )


def downgrade():
    # What was cut is gone; the shorter values are valid under the older revision too.
    pass
