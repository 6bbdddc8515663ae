"""flows: several activities per engagement, triggers, and the envelope as its run

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 19:00:00.000000

Adds what docs/flows.md describes: activities lose their one-per-engagement unique and gain
`settings` and `secrets`; engagements gain their entry `activity_id` and `expected_inputs`;
a `triggers` table; envelopes gain the run (`step`, `next_step_at`, `exit_type`, `values`,
`path`); texts gain `step`, unique per envelope instead of per (envelope, activity).

Existing data moves as the new code reads it: each engagement's entry is its one activity;
every text is step 1; an envelope with a text is at step 1 of a run at that activity, its path
one entry from its text's status, its exit type its status when final. An envelope without a
text is at step 0: the dispatcher starts its run as before.

The downgrade keeps only what the old schema can say: each engagement's entry activity (the
others, their triggers and their texts are deleted) and each envelope's text of step 1.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _json():
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


# A text's status to the event its step ended with (texts still queued or sending have none).
_EVENTS = (
    "CASE t.status WHEN 'sent' THEN 'text-sent' WHEN 'delivered' THEN 'text-delivered' "
    "WHEN 'undelivered' THEN 'text-undelivered' WHEN 'failed' THEN 'text-failed' "
    "WHEN 'unknown' THEN 'text-failed' END"
)
_REASON = (
    "CASE WHEN t.status IN ('undelivered', 'failed', 'unknown') "
    "THEN COALESCE(t.error_detail, t.error_code, t.status) END"
)
_PATHS = {
    'postgresql': (
        "UPDATE envelopes SET path = jsonb_build_array(jsonb_build_object("
        "'activity', t.activity_id, 'step', 1, 'event', " + _EVENTS + ", "
        "'at', to_char(t.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), "
        "'reason', " + _REASON + ")) "
        "FROM texts AS t WHERE t.envelope_id = envelopes.id AND " + _EVENTS + " IS NOT NULL"
    ),
    'sqlite': (
        "UPDATE envelopes SET path = (SELECT json_array(json_object("
        "'activity', t.activity_id, 'step', 1, 'event', " + _EVENTS + ", "
        "'at', replace(t.updated_at, ' ', 'T') || '+00:00', 'reason', " + _REASON + ")) "
        "FROM texts AS t WHERE t.envelope_id = envelopes.id) "
        "WHERE EXISTS (SELECT 1 FROM texts AS t WHERE t.envelope_id = envelopes.id "
        "AND " + _EVENTS + " IS NOT NULL)"
    ),
}


def upgrade():
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_constraint('uq_activities_engagement_id', type_='unique')
        batch_op.add_column(sa.Column('settings', _json(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('secrets', _json(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.create_index('ix_activities_engagement_id', ['engagement_id'], unique=False)

    # A batch rebuild of `engagements` on SQLite is safe here: migrations/env.py turns foreign
    # keys off around every migration, so the rebuild's DROP TABLE cascades to nothing.
    with op.batch_alter_table('engagements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('activity_id', sa.String(length=22), nullable=True))
        batch_op.add_column(sa.Column('expected_inputs', _json(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.create_foreign_key(
            'fk_engagements_activity_id_activities', 'activities',
            ['activity_id'], ['id'], ondelete='SET NULL',
        )
        batch_op.create_index('ix_engagements_activity_id', ['activity_id'], unique=False)
    op.execute(
        "UPDATE engagements SET activity_id = "
        "(SELECT MIN(a.id) FROM activities AS a WHERE a.engagement_id = engagements.id)"
    )

    op.create_table('triggers',
    sa.Column('id', sa.String(length=22), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('engagement_id', sa.String(length=22), nullable=False),
    sa.Column('activity_id', sa.String(length=22), nullable=False),
    sa.Column('next_activity_id', sa.String(length=22), nullable=False),
    sa.Column('on_event', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('delay_in_seconds', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=22), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_triggers_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_triggers_activity_id_activities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['engagement_id'], ['engagements.id'], name=op.f('fk_triggers_engagement_id_engagements'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['next_activity_id'], ['activities.id'], name=op.f('fk_triggers_next_activity_id_activities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_triggers')),
    sa.UniqueConstraint('activity_id', 'on_event', 'category', name=op.f('uq_triggers_activity_id_on_event_category'))
    )
    op.create_index('ix_triggers_account_id', 'triggers', ['account_id'], unique=False)
    op.create_index('ix_triggers_engagement_id', 'triggers', ['engagement_id'], unique=False)
    op.create_index('ix_triggers_next_activity_id', 'triggers', ['next_activity_id'], unique=False)

    with op.batch_alter_table('envelopes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('step', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_step_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('exit_type', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('values', _json(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('path', _json(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.create_index('ix_envelopes_engagement_id_next_step_at', ['engagement_id', 'next_step_at'], unique=False)

    with op.batch_alter_table('texts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('step', sa.Integer(), nullable=False, server_default='1'))
        batch_op.drop_constraint('uq_texts_envelope_id_activity_id', type_='unique')
        batch_op.create_unique_constraint('uq_texts_envelope_id_step', ['envelope_id', 'step'])

    op.execute(
        "UPDATE envelopes SET step = 1, "
        "activity_id = (SELECT t.activity_id FROM texts AS t WHERE t.envelope_id = envelopes.id) "
        "WHERE EXISTS (SELECT 1 FROM texts AS t WHERE t.envelope_id = envelopes.id)"
    )
    op.execute(
        "UPDATE envelopes SET exit_type = status "
        "WHERE status IN ('completed', 'failed', 'cancelled')"
    )
    op.execute(_PATHS[dialect])


def downgrade():
    op.execute(
        "DELETE FROM activities WHERE id NOT IN "
        "(SELECT activity_id FROM engagements WHERE activity_id IS NOT NULL)"
    )
    op.execute("DELETE FROM texts WHERE step <> 1")
    with op.batch_alter_table('texts', schema=None) as batch_op:
        batch_op.drop_constraint('uq_texts_envelope_id_step', type_='unique')
        batch_op.create_unique_constraint('uq_texts_envelope_id_activity_id', ['envelope_id', 'activity_id'])
        batch_op.drop_column('step')
    with op.batch_alter_table('envelopes', schema=None) as batch_op:
        batch_op.drop_index('ix_envelopes_engagement_id_next_step_at')
        batch_op.drop_column('path')
        batch_op.drop_column('values')
        batch_op.drop_column('exit_type')
        batch_op.drop_column('next_step_at')
        batch_op.drop_column('step')
    op.drop_index('ix_triggers_next_activity_id', table_name='triggers')
    op.drop_index('ix_triggers_engagement_id', table_name='triggers')
    op.drop_index('ix_triggers_account_id', table_name='triggers')
    op.drop_table('triggers')
    with op.batch_alter_table('engagements', schema=None) as batch_op:
        batch_op.drop_index('ix_engagements_activity_id')
        batch_op.drop_constraint('fk_engagements_activity_id_activities', type_='foreignkey')
        batch_op.drop_column('expected_inputs')
        batch_op.drop_column('activity_id')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index('ix_activities_engagement_id')
        batch_op.drop_column('secrets')
        batch_op.drop_column('settings')
        batch_op.create_unique_constraint('uq_activities_engagement_id', ['engagement_id'])
