"""meta numbers outside JSON's safe-integer range become strings of their digits

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 15:30:00.000000

Before this revision the API stored such numbers, and reading them back failed: Postgres jsonb
gives `1e308` back as a 309-digit integer that no 64-bit JSON encoder writes. Each one is
rewritten as a string holding exactly the digits the database kept, so the value a template
renders is unchanged and every read works. In-range numbers, strings and booleans are untouched.
"""
import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

SAFE = 2**53
BATCH = 1000

_CANDIDATES = {
    'postgresql': (
        "SELECT id, meta::text FROM envelopes WHERE id > :after AND EXISTS ("
        " SELECT 1 FROM jsonb_each(envelopes.meta) AS item(key, value)"
        " WHERE jsonb_typeof(item.value) = 'number'"
        " AND abs((item.value #>> '{}')::numeric) >= :safe)"
        " ORDER BY id LIMIT :batch"
    ),
    'sqlite': (
        "SELECT id, meta FROM envelopes WHERE id > :after AND EXISTS ("
        " SELECT 1 FROM json_each(envelopes.meta)"
        " WHERE type IN ('integer', 'real') AND abs(value) >= :safe)"
        " ORDER BY id LIMIT :batch"
    ),
}


class _Lexeme(str):
    """A JSON number exactly as the database wrote it."""


def _rewritten(text: str) -> str:
    meta = json.loads(text, parse_int=_Lexeme, parse_float=_Lexeme)
    for key, value in meta.items():
        if isinstance(value, _Lexeme):
            number = json.loads(value)
            meta[key] = str(value) if abs(number) >= SAFE else number
    return json.dumps(meta)


def upgrade():
    connection = op.get_bind()
    dialect = connection.dialect.name
    select = sa.text(_CANDIDATES[dialect])
    meta = 'CAST(:meta AS jsonb)' if dialect == 'postgresql' else ':meta'
    update = sa.text(f"UPDATE envelopes SET meta = {meta} WHERE id = :id")
    after = ''
    while True:
        rows = connection.execute(
            select, {'after': after, 'safe': SAFE, 'batch': BATCH}
        ).all()
        if not rows:
            return
        connection.execute(update, [{'id': id_, 'meta': _rewritten(text)} for id_, text in rows])
        after = rows[-1][0]


def downgrade():
    # The strings are valid meta under the older revision too; their numbers were what broke.
    pass
