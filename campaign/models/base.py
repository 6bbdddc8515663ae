"""Column types and mixins every table shares: opaque ids, UTC timestamps, account scoping."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from campaign.extensions import db

# shortuuid's alphabet: no 0/O, 1/l/I look-alikes; ASCII-ordered, so fixed-width ids sort
# as numbers.
ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ID_LENGTH = 22


def new_id() -> str:
    """A 22-character opaque id: 48 bits of milliseconds, then 80 random bits, in base 57.

    The time prefix keeps freshly inserted rows together in the primary-key index (random keys
    would scatter a million-row bulk insert across the whole B-tree).
    """
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(ID_LENGTH):
        value, digit = divmod(value, 57)
        chars.append(ID_ALPHABET[digit])
    return "".join(reversed(chars))


def new_ids(count: int) -> list[str]:
    """`count` fresh ids, for bulk inserts."""
    return [new_id() for _ in range(count)]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _insert_skipping(model: Any, unique: list[str] | None) -> Any:
    dialect = db.session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(model)
    return statement.on_conflict_do_nothing(index_elements=unique)


def insert_new(model: Any, rows: list[dict[str, Any]], unique: list[str] | None = None) -> None:
    """Insert `rows` in one statement, skipping each that a unique constraint (`unique`'s
    columns; any, when None) already holds: `INSERT ... ON CONFLICT DO NOTHING` on both
    dialects."""
    if rows:
        db.session.execute(_insert_skipping(model, unique), rows)


def insert_new_ids(
    model: Any, rows: list[dict[str, Any]], unique: list[str] | None = None
) -> set[str]:
    """`insert_new`, and the ids of the rows it added (`RETURNING`, in the same statement)."""
    if not rows:
        return set()
    statement = _insert_skipping(model, unique).returning(model.id)
    return set(db.session.scalars(statement, rows))


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive, as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC datetime is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDocument = JSON().with_variant(JSONB(), "postgresql")


def id_column() -> Mapped[str]:
    return mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)


def _same_as_created(context: DefaultExecutionContext) -> datetime:
    """A new row's `updated_at` equals its `created_at`, not a microsecond later."""
    return context.get_current_parameters()["created_at"]


class Timestamps:
    """`created_at` and `updated_at`, both UTC with microseconds."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=_same_as_created, onupdate=utcnow
    )


class AccountScoped:
    """Rows that belong to one account; every query of the API filters on `account_id`."""

    @declared_attr
    def account_id(cls) -> Mapped[str]:
        return mapped_column(
            String(ID_LENGTH), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
        )
