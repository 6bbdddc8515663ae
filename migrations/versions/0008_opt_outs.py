"""opt-outs: the numbers each account must not text

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:00:00.000000

Adds `opt_outs` (docs/inbound.md), unique on (account_id, phone_number). Existing data moves
as the new code would have recorded it: every text that failed with Twilio's 21610
(unsubscribed recipient) records an opt-out of its account for its `to`, source `carrier`, one
per (account, number), dated by the oldest such text. The downgrade drops the table.
"""
from alembic import op
import sqlalchemy as sa

from campaign.models.base import new_id


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# Twilio's "Attempt to send to unsubscribed recipient": the carrier's own opt-out signal.
_UNSUBSCRIBED = '21610'


def upgrade():
    op.create_table('opt_outs',
    sa.Column('id', sa.String(length=22), nullable=False),
    sa.Column('phone_number', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('account_id', sa.String(length=22), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source IN ('keyword', 'carrier', 'api')", name=op.f('ck_opt_outs_source_known')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_opt_outs_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opt_outs')),
    sa.UniqueConstraint('account_id', 'phone_number', name=op.f('uq_opt_outs_account_id_phone_number'))
    )
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opt_outs_account_id'), ['account_id'], unique=False)

    _record_carrier_opt_outs(op.get_bind())


def _record_carrier_opt_outs(connection: sa.Connection) -> None:
    """One `carrier` opt-out per (account, number) a text failed with 21610, oldest first."""
    rows = connection.execute(
        sa.text(
            'SELECT account_id, "to", MIN(created_at) FROM texts WHERE error_code = :code '
            'GROUP BY account_id, "to" ORDER BY MIN(created_at), account_id, "to"'
        ),
        {"code": _UNSUBSCRIBED},
    ).all()
    if not rows:
        return
    statement = sa.text(
        "INSERT INTO opt_outs (id, account_id, phone_number, source, created_at, updated_at) "
        "VALUES (:id, :account_id, :number, 'carrier', :at, :at)"
    )
    for start in range(0, len(rows), 1000):
        connection.execute(
            statement,
            [
                {"id": new_id(), "account_id": account_id, "number": number, "at": at}
                for account_id, number, at in rows[start : start + 1000]
            ],
        )


def downgrade():
    with op.batch_alter_table('opt_outs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opt_outs_account_id'))

    op.drop_table('opt_outs')
