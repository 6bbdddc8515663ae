"""The process-wide extension objects: database, migrations, the smorest Api and Redis."""

from __future__ import annotations

import sqlite3
from typing import Any

import redis
from flask import Flask, current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic migrations identical on SQLite and Postgres.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(connection: Any, record: Any) -> None:
    """SQLite enforces foreign keys (and their ON DELETE actions) only when asked to."""
    if isinstance(connection, sqlite3.Connection):
        cursor = connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


class RedisHolder:
    """The current app's Redis connection, made once from `REDIS_URL` when the app is built."""

    def init_app(self, app: Flask) -> None:
        app.extensions["campaign-redis"] = redis.Redis.from_url(app.config["REDIS_URL"])

    @property
    def connection(self) -> redis.Redis:
        return current_app.extensions["campaign-redis"]


redis_store = RedisHolder()
