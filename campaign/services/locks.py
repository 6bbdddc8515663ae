"""Row locks for checks that must hold until the commit (scheduling against a body change)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from campaign.extensions import db


def lock_row(model: Any, row_id: str) -> Any:
    """Lock one row until the commit and return it re-read (None when it is gone).

    Postgres: `SELECT ... FOR UPDATE`, which waits for a writer and then reads its commit.
    SQLite ignores FOR UPDATE and starts a transaction only at the first write, so a no-op
    write comes first: it takes the database's one write lock, and every read after it in this
    transaction sees what no other writer can change before the commit.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(
            update(model)
            .where(model.id == row_id)
            .values(id=model.id)
            .execution_options(synchronize_session=False)
        )
    return db.session.scalar(
        select(model)
        .where(model.id == row_id)
        .with_for_update(of=model)
        .execution_options(populate_existing=True)
    )
