"""Databases made for one test: a throwaway of the kind the suite runs on (SQLite or Postgres),
shared by the migration tests and the operator-command tests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import make_url

from campaign.config import database_url


@contextmanager
def throwaway_database(tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database of the kind the suite runs on: a SQLite file in
    `tmp_path`, or (with TEST_DATABASE_URL) a Postgres database created for it and dropped after."""
    configured = os.environ.get("TEST_DATABASE_URL")
    if not configured:
        yield f"sqlite:///{tmp_path}/fresh.db"
        return
    url = make_url(database_url(configured))
    name = f"{url.database}_fresh_{secrets.token_hex(4)}"
    # libpq wants the plain scheme; SQLAlchemy's `+psycopg` is not part of a conninfo URI.
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
