"""inbound texts, account replies, quiet hours

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 23:10:00.000000

texts: `direction` (every existing row is `outbound`, which the server default fills), the
engagement/envelope/activity links become nullable (an auto-reply belongs to no run), an index
to find the envelope that last texted a number, a partial unique index that makes a carrier's
retried inbound delivery store one row, and the one-text-per-step constraint becomes a unique
index over outbound texts only (replies link to the step they answer, many to one). `account_replies` is new (no row:
the defaults). engagements: the queue schedule (off for every existing engagement, as it was)
and the fallback zone (`UTC`). The texts rebuild on SQLite runs with foreign keys off
(migrations/env.py); nothing else moves.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_INBOUND = sa.text("direction = 'inbound'")
_OUTBOUND = sa.text("direction = 'outbound'")


def _json():
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    with op.batch_alter_table('texts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('direction', sa.String(length=16), nullable=False, server_default='outbound'))
        batch_op.alter_column('engagement_id', existing_type=sa.String(length=22), nullable=True)
        batch_op.alter_column('envelope_id', existing_type=sa.String(length=22), nullable=True)
        batch_op.alter_column('activity_id', existing_type=sa.String(length=22), nullable=True)
        batch_op.create_index('ix_texts_account_id_to', ['account_id', 'to'], unique=False)
        # One text per run step stays true of outbound texts; a recipient may answer a step
        # many times.
        batch_op.drop_constraint('uq_texts_envelope_id_step', type_='unique')
        batch_op.create_index(
            'uq_texts_envelope_id_step', ['envelope_id', 'step'],
            unique=True, postgresql_where=_OUTBOUND, sqlite_where=_OUTBOUND,
        )
        batch_op.create_index(
            'uq_texts_account_id_inbound_message_id', ['account_id', 'provider_message_id'],
            unique=True, postgresql_where=_INBOUND, sqlite_where=_INBOUND,
        )
    with op.batch_alter_table('texts', schema=None) as batch_op:
        batch_op.alter_column('direction', server_default=None)

    op.create_table('account_replies',
    sa.Column('id', sa.String(length=22), nullable=False),
    sa.Column('keyword', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('account_id', sa.String(length=22), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("keyword IN ('opt-out', 'opt-in', 'help')", name=op.f('ck_account_replies_keyword_known')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_replies_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_replies')),
    sa.UniqueConstraint('account_id', 'keyword', name=op.f('uq_account_replies_account_id_keyword'))
    )
    with op.batch_alter_table('account_replies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_replies_account_id'), ['account_id'], unique=False)

    # Plain ALTER TABLE on engagements (see 0006), with defaults for the existing rows.
    op.add_column('engagements', sa.Column('queue_schedule_is_enabled', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('engagements', sa.Column('queue_schedule', _json(), nullable=True))
    op.add_column('engagements', sa.Column('fallback_timezone', sa.String(length=64), nullable=False, server_default='UTC'))


def downgrade():
    # SQLite has had DROP COLUMN since 3.35.
    op.execute("ALTER TABLE engagements DROP COLUMN fallback_timezone")
    op.execute("ALTER TABLE engagements DROP COLUMN queue_schedule")
    op.execute("ALTER TABLE engagements DROP COLUMN queue_schedule_is_enabled")
    with op.batch_alter_table('account_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_replies_account_id'))
    op.drop_table('account_replies')
    # The account's own texts belong to no run and cannot stay under the old shape.
    op.execute("DELETE FROM texts WHERE engagement_id IS NULL OR envelope_id IS NULL OR activity_id IS NULL")
    with op.batch_alter_table('texts', schema=None) as batch_op:
        batch_op.drop_index('uq_texts_account_id_inbound_message_id')
        batch_op.drop_index('uq_texts_envelope_id_step')
        batch_op.create_unique_constraint('uq_texts_envelope_id_step', ['envelope_id', 'step'])
        batch_op.drop_index('ix_texts_account_id_to')
        batch_op.alter_column('activity_id', existing_type=sa.String(length=22), nullable=False)
        batch_op.alter_column('envelope_id', existing_type=sa.String(length=22), nullable=False)
        batch_op.alter_column('engagement_id', existing_type=sa.String(length=22), nullable=False)
        batch_op.drop_column('direction')
