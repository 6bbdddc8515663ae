"""number allotments: each sender number belongs to one account, with an operator's cap

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 15:00:00.000000

Existing senders keep working: every number in `phone_numbers` is allotted to the account of
its earliest row (by created_at, then id), capped at that row's throughput. Rows of the same
number in *other* accounts are deleted (their activities keep their row with no sender, so
their engagements stop sending and cannot be scheduled until the operator allots them a
number): they were the cross-account duplicates that doubled a number's rate. The downgrade
drops the allotments; it does not bring those rows back.
"""
from alembic import op
import sqlalchemy as sa

from campaign.models.base import new_id


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('number_allotments',
    sa.Column('id', sa.String(length=22), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('max_throughput', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=22), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('max_throughput >= 1', name=op.f('ck_number_allotments_max_throughput_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_number_allotments_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_number_allotments')),
    sa.UniqueConstraint('number', name=op.f('uq_number_allotments_number')),
    sa.UniqueConstraint('number', 'account_id', name=op.f('uq_number_allotments_number_account_id'))
    )
    with op.batch_alter_table('number_allotments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_number_allotments_account_id'), ['account_id'], unique=False)

    _allot_existing_senders(op.get_bind())

    with op.batch_alter_table('phone_numbers', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_phone_numbers_number_number_allotments'), 'number_allotments', ['number', 'account_id'], ['number', 'account_id'], ondelete='CASCADE')


def _allot_existing_senders(connection: sa.Connection) -> None:
    """Allot each number to its earliest row's account; delete the other accounts' rows."""
    rows = connection.execute(
        sa.text(
            "SELECT id, number, account_id, throughput, created_at FROM phone_numbers "
            "ORDER BY number, created_at, id"
        )
    ).all()
    keeper: dict[str, tuple[str, int, object]] = {}
    duplicates: list[str] = []
    for row_id, number, account_id, throughput, created_at in rows:
        if number not in keeper:
            keeper[number] = (account_id, throughput, created_at)
        elif keeper[number][0] != account_id:
            duplicates.append(row_id)
    if keeper:
        connection.execute(
            sa.text(
                "INSERT INTO number_allotments "
                "(id, number, account_id, max_throughput, created_at, updated_at) "
                "VALUES (:id, :number, :account_id, :cap, :created_at, :created_at)"
            ),
            [
                {
                    "id": new_id(),
                    "number": number,
                    "account_id": account_id,
                    "cap": throughput,
                    "created_at": created_at,
                }
                for number, (account_id, throughput, created_at) in keeper.items()
            ],
        )
    if duplicates:
        # Explicitly, not through ON DELETE SET NULL: SQLite may run without foreign keys.
        for start in range(0, len(duplicates), 500):
            chunk = duplicates[start : start + 500]
            connection.execute(
                sa.text("UPDATE activities SET phone_number_id = NULL WHERE phone_number_id IN :ids")
                .bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": chunk},
            )
            connection.execute(
                sa.text("DELETE FROM phone_numbers WHERE id IN :ids")
                .bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": chunk},
            )


def downgrade():
    with op.batch_alter_table('phone_numbers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_phone_numbers_number_number_allotments'), type_='foreignkey')

    with op.batch_alter_table('number_allotments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_number_allotments_account_id'))

    op.drop_table('number_allotments')
