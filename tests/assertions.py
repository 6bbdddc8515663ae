"""Assertions shared by test modules: an error document's shape, and "nothing stored changed"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import select

from campaign.extensions import db, redis_store
from tests.client import Reply


def database_state(app: Flask) -> dict[str, list[str]]:
    """Every row of every table and every Redis key, as sorted text: what must not change."""
    state: dict[str, list[str]] = {}
    with app.app_context(), db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            state[table.name] = sorted(
                repr(tuple(row)) for row in connection.execute(select(table))
            )
        # A refused schedule must not have enqueued a dispatch either.
        state["redis keys"] = sorted(
            repr(key)
            for key in redis_store.connection.scan_iter()
            if not key.startswith(_LIVENESS_KEYS)
        )
    return state


# Keys that come and go on their own clock, not with requests: what RQ keeps about processes
# (a worker's registration, a scheduler's lock, when registries were last cleaned) and our
# short-lived marks (a sender's pacing state, a slot's recount), which expire within seconds,
# and the rate limiter's count, which every API request moves, refused ones included. A
# snapshot taken around a request must not count them.
_LIVENESS_KEYS = (
    b"rq:worker:",
    b"rq:workers",
    b"rq:scheduler-lock:",
    b"rq:scheduler:",
    b"rq:clean_registries:",
    b"campaign:throttle:",
    b"campaign:recount:",
    b"campaign:rate:",
)


@contextmanager
def unchanged(app: Flask) -> Iterator[None]:
    """Assert that the requests made inside the block changed nothing that is stored."""
    before = database_state(app)
    yield
    after = database_state(app)
    changed = {
        name: {
            "gone": sorted(set(before.get(name, [])) - set(after.get(name, []))),
            "new": sorted(set(after.get(name, [])) - set(before.get(name, []))),
        }
        for name in before.keys() | after.keys()
        if before.get(name) != after.get(name)
    }
    assert not changed, f"a rejected request changed stored state: {changed}"


def row_count(app: Flask, table: str) -> int:
    with app.app_context(), db.engine.connect() as connection:
        return len(connection.execute(select(db.metadata.tables[table])).all())


def assert_error(
    reply: Reply,
    status: int,
    *,
    pointer: str | None = None,
    parameter: str | None = None,
    header: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """The reply is an error document with `status` and an error at the given source; that error.

    `detail` is a fragment the error's detail must contain (case-insensitive).
    """
    assert reply.status == status, reply.document
    assert reply.document is not None and "data" not in reply.document
    wanted = {
        key: value
        for key, value in (("pointer", pointer), ("parameter", parameter), ("header", header))
        if value is not None
    }
    matching = [
        error
        for error in reply.errors
        if all(error.get("source", {}).get(k) == v for k, v in wanted.items())
    ]
    assert matching, f"no error at {wanted}: {reply.errors}"
    error = matching[0]
    assert error["status"] == str(status) or len(reply.errors) > 1, error
    assert error["title"] and error["detail"]
    if detail is not None:
        assert detail.lower() in error["detail"].lower(), error
    return error
