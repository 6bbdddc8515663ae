"""The Alembic migrations: from an empty database they reach head, they step down and up again,
and the schema they build is exactly the models' (autogenerate finds nothing to add)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from campaign import MIGRATIONS_DIRECTORY, create_app
from campaign.extensions import db
from tests.databases import throwaway_database

SCRIPTS = ScriptDirectory(MIGRATIONS_DIRECTORY)


@pytest.fixture
def fresh_app(tmp_path: Path, app_environment: dict[str, str]) -> Iterator[Flask]:
    """An app on an empty database of its own, inside its app context."""
    with throwaway_database(tmp_path) as url:
        application = create_app({**app_environment, "DATABASE_URL": url})
        with application.app_context():
            yield application
            db.session.remove()
            db.engine.dispose()


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def table_names() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def schema_differences() -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))


def revisions_oldest_first() -> list[str]:
    return [script.revision for script in reversed(list(SCRIPTS.walk_revisions()))]


def test_migration_history_is_one_line_with_a_single_head() -> None:
    # Two heads would make `campaign db upgrade` refuse to run on a deployment.
    assert len(SCRIPTS.get_heads()) == 1
    assert len(SCRIPTS.get_bases()) == 1
    assert revisions_oldest_first()[-1] == SCRIPTS.get_current_head()


def test_upgrade_from_empty_database_reaches_head_and_builds_every_table(
    fresh_app: Flask,
) -> None:
    assert current_revision() is None
    assert table_names() == set()

    upgrade()

    assert current_revision() == SCRIPTS.get_current_head()
    assert table_names() == {table.name for table in db.metadata.sorted_tables} | {
        "alembic_version"
    }


def test_models_match_the_migrated_schema(fresh_app: Flask) -> None:
    upgrade()

    assert schema_differences() == []


def test_downgrade_to_base_empties_the_database_and_upgrade_rebuilds_it(
    fresh_app: Flask,
) -> None:
    upgrade()

    downgrade(revision="base")

    assert current_revision() is None
    assert table_names() <= {"alembic_version"}
    if db.engine.dialect.name == "postgresql":
        # Leftover enum types would make the next upgrade fail with "type already exists".
        with db.engine.connect() as connection:
            enum_types = connection.execute(
                text("SELECT typname FROM pg_type WHERE typtype = 'e'")
            ).scalars()
            assert list(enum_types) == []

    upgrade()

    assert current_revision() == SCRIPTS.get_current_head()
    assert schema_differences() == []


def test_every_revision_steps_down_and_up_again(fresh_app: Flask) -> None:
    for revision in revisions_oldest_first():
        upgrade(revision=revision)
        assert current_revision() == revision
        downgrade(revision="-1")
        assert current_revision() != revision
        upgrade(revision=revision)
        assert current_revision() == revision

    assert schema_differences() == []


def test_upgrade_keeps_rows_written_under_an_older_revision(fresh_app: Flask) -> None:
    first = revisions_oldest_first()[0]
    upgrade(revision=first)
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, key, name, created_at, updated_at) "
                "VALUES (:id, 'firstbank', 'First Bank', :now, :now)"
            ),
            {"id": "a" * 22, "now": datetime(2026, 1, 1, tzinfo=UTC)},
        )

    upgrade()

    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT key, name FROM accounts")).all()
    assert [tuple(row) for row in rows] == [("firstbank", "First Bank")]


def test_meta_numbers_outside_the_safe_range_become_strings_of_their_digits(
    fresh_app: Flask,
) -> None:
    upgrade(revision="0002")
    postgres = db.engine.dialect.name == "postgresql"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    metas = {
        "a" * 22: '{"acct": 123456789012345678901234567890, "big": 1e308, "n": 5, "s": "x"}',
        "b" * 22: '{"low": -9007199254740992, "top": 9007199254740991, "f": 0.5, "t": true}',
    }
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, key, name, created_at, updated_at) "
                "VALUES (:id, 'firstbank', 'First Bank', :now, :now)"
            ),
            {"id": "c" * 22, "now": now},
        )
        connection.execute(
            text(
                "INSERT INTO engagements (id, name, direction, status, delivery_type, "
                "account_id, created_at, updated_at) VALUES (:id, 'Old', 'outbound', 'pending', "
                "'immediately', :account, :now, :now)"
            ),
            {"id": "d" * 22, "account": "c" * 22, "now": now},
        )
        meta = "CAST(:meta AS jsonb)" if postgres else ":meta"
        for index, (id_, document) in enumerate(metas.items()):
            connection.execute(
                text(
                    "INSERT INTO envelopes (id, engagement_id, phone_number, meta, status, "
                    "retry_attempts, account_id, created_at, updated_at) VALUES (:id, "
                    f":engagement, :number, {meta}, 'pending', 0, :account, :now, :now)"
                ),
                {
                    "id": id_,
                    "engagement": "d" * 22,
                    "number": f"+1519555010{index}",
                    "meta": document,
                    "account": "c" * 22,
                    "now": now,
                },
            )

    upgrade(revision="0004")

    with db.engine.connect() as connection:
        stored = dict(connection.execute(text("SELECT id, meta FROM envelopes")).all())
    loaded = {
        id_: value if isinstance(value, dict) else json.loads(value)
        for id_, value in stored.items()
    }
    assert loaded["a" * 22] == {
        "acct": "123456789012345678901234567890",
        # The digits the database kept: Postgres holds 1e308 as an exact integer.
        "big": "1" + "0" * 308 if postgres else "1e308",
        "n": 5,
        "s": "x",
    }
    assert loaded["b" * 22] == {
        "low": "-9007199254740992",
        "top": 9007199254740991,
        "f": 0.5,
        "t": True,
    }


def test_0005_allots_each_number_to_its_earliest_account_and_drops_the_duplicates(
    fresh_app: Flask,
) -> None:
    upgrade(revision="0004")
    rows = [("a" * 22, "firstbank", 1), ("b" * 22, "secondbank", 2)]
    with db.engine.begin() as connection:
        for account_id, key, day in rows:
            at = datetime(2026, 1, day, tzinfo=UTC)
            connection.execute(
                text(
                    "INSERT INTO accounts (id, key, name, created_at, updated_at) "
                    "VALUES (:id, :key, :key, :at, :at)"
                ),
                {"id": account_id, "key": key, "at": at},
            )
            # The same number in both accounts, each with its own budget: the earlier row wins.
            connection.execute(
                text(
                    "INSERT INTO phone_numbers "
                    "(id, number, name, throughput, account_id, created_at, updated_at) "
                    "VALUES (:id, '+15195550100', NULL, :rate, :account, :at, :at)"
                ),
                {"id": key[0] * 22, "rate": day * 10, "account": account_id, "at": at},
            )

    upgrade(revision="0005")

    with db.engine.connect() as connection:
        allotments = connection.execute(
            text("SELECT number, account_id, max_throughput FROM number_allotments")
        ).all()
        senders = connection.execute(text("SELECT id, account_id FROM phone_numbers")).all()
    assert [tuple(row) for row in allotments] == [("+15195550100", "a" * 22, 10)]
    assert [tuple(row) for row in senders] == [("f" * 22, "a" * 22)]

    downgrade(revision="0004")
    assert "number_allotments" not in table_names()


def test_0006_gives_active_engagements_their_last_change_as_heartbeat(fresh_app: Flask) -> None:
    upgrade(revision="0005")
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, key, name, created_at, updated_at) "
                "VALUES (:id, 'firstbank', 'First', :at, :at)"
            ),
            {"id": "a" * 22, "at": at},
        )
        for row_id, status in (("s" * 22, "sending"), ("c" * 22, "completed")):
            connection.execute(
                text(
                    "INSERT INTO engagements (id, name, direction, status, delivery_type, "
                    "account_id, created_at, updated_at) "
                    "VALUES (:id, 'x', 'outbound', :status, 'immediately', :account, :at, :at)"
                ),
                {"id": row_id, "status": status, "account": "a" * 22, "at": at},
            )
        # A row that references an engagement: rebuilding `engagements` would cascade to it.
        connection.execute(
            text(
                "INSERT INTO envelopes (id, engagement_id, phone_number, meta, status, "
                "retry_attempts, account_id, created_at, updated_at) VALUES (:id, :engagement, "
                "'+15197566220', '{}', 'pending', 0, :account, :at, :at)"
            ),
            {"id": "e" * 22, "engagement": "s" * 22, "account": "a" * 22, "at": at},
        )

    upgrade(revision="0006")
    assert row_count_of("envelopes") == 1

    with db.engine.connect() as connection:
        heartbeats = dict(
            connection.execute(text("SELECT status, heartbeat_at FROM engagements")).all()
        )
    assert heartbeats["completed"] is None
    assert heartbeats["sending"] is not None
    stored = heartbeats["sending"]
    if isinstance(stored, str):  # SQLite hands back text
        stored = datetime.fromisoformat(stored)
    assert (stored.astimezone(UTC) if stored.tzinfo else stored.replace(tzinfo=UTC)) == at

    downgrade(revision="0005")
    with db.engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM engagements")).keys()
    assert "heartbeat_at" not in columns
    assert row_count_of("envelopes") == 1


def row_count_of(table: str) -> int:
    with db.engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_0007_moves_each_engagement_to_its_one_activity_and_each_text_to_step_1(
    fresh_app: Flask,
) -> None:
    upgrade(revision="0006")
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    account, engagement, template, phone, activity = ("a" * 22, "g" * 22, "t" * 22, "p" * 22,
                                                      "v" * 22)  # fmt: skip
    statements = [
        (
            "INSERT INTO accounts (id, key, name, created_at, updated_at) "
            "VALUES (:account, 'firstbank', 'First', :at, :at)",
            {},
        ),
        (
            "INSERT INTO engagements (id, name, direction, status, delivery_type, account_id, "
            "created_at, updated_at) VALUES (:engagement, 'x', 'outbound', 'sending', "
            "'immediately', :account, :at, :at)",
            {},
        ),
        (
            "INSERT INTO text_templates (id, name, body, variables, account_id, created_at, "
            "updated_at) VALUES (:template, 't', 'Hi', '[]', :account, :at, :at)",
            {},
        ),
        (
            "INSERT INTO number_allotments (id, number, max_throughput, account_id, "
            "created_at, updated_at) VALUES ('nnnnnnnnnnnnnnnnnnnnnn', '+15195550100', 1, "
            ":account, :at, :at)",
            {},
        ),
        (
            "INSERT INTO phone_numbers (id, number, throughput, account_id, created_at, "
            "updated_at) VALUES (:phone, '+15195550100', 1, :account, :at, :at)",
            {},
        ),
        (
            "INSERT INTO activities (id, name, kind, engagement_id, text_template_id, "
            "phone_number_id, account_id, created_at, updated_at) VALUES (:activity, 'Blast', "
            "'text', :engagement, :template, :phone, :account, :at, :at)",
            {},
        ),
    ]
    envelopes = {  # envelope id -> (envelope status, its text's status or None)
        "1" * 22: ("completed", "sent"),
        "2" * 22: ("failed", "failed"),
        "3" * 22: ("processing", "queued"),
        "4" * 22: ("pending", None),
    }
    for envelope_id, (status, text_status) in envelopes.items():
        statements.append(
            (
                "INSERT INTO envelopes (id, engagement_id, activity_id, phone_number, meta, "
                "status, retry_attempts, account_id, created_at, updated_at) VALUES (:id, "
                ":engagement, :activity, :number, '{}', :status, 0, :account, :at, :at)",
                {"id": envelope_id, "status": status, "number": f"+1519555{envelope_id[:4]}"},
            )
        )
        if text_status is not None:
            statements.append(
                (
                    'INSERT INTO texts (id, engagement_id, envelope_id, activity_id, "to", '
                    '"from", status, error_detail, retry_attempts, account_id, created_at, '
                    "updated_at) VALUES (:id, :engagement, :envelope, :activity, '+15197566220', "
                    "'+15195550100', :status, :detail, 0, :account, :at, :at)",
                    {
                        "id": "x" + envelope_id[1:],
                        "envelope": envelope_id,
                        "status": text_status,
                        "detail": "refused" if text_status == "failed" else None,
                    },
                )
            )
    names = {"account": account, "engagement": engagement, "template": template,
             "phone": phone, "activity": activity, "at": at}  # fmt: skip
    with db.engine.begin() as connection:
        for statement, values in statements:
            connection.execute(text(statement), {**names, **values})

    upgrade(revision="0007")
    # The rebuild of `activities` (SQLite) cascaded to nothing: every text is still there.
    assert row_count_of("texts") == 3
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT activity_id FROM engagements")).scalar() == activity
        assert set(connection.execute(text("SELECT step FROM texts")).scalars()) == {1}
        runs = {
            row[0]: row[1:]
            for row in connection.execute(
                text("SELECT id, step, exit_type, path FROM envelopes")
            ).all()
        }
    paths = {
        envelope_id: json.loads(path) if isinstance(path, str) else path
        for envelope_id, (_, _, path) in runs.items()
    }
    assert {envelope_id: row[:2] for envelope_id, row in runs.items()} == {
        "1" * 22: (1, "completed"),
        "2" * 22: (1, "failed"),
        "3" * 22: (1, None),
        "4" * 22: (0, None),
    }
    [sent] = paths["1" * 22]
    assert (sent["activity"], sent["step"], sent["event"], sent["reason"]) == (
        activity,
        1,
        "text-sent",
        None,
    )
    assert sent["at"].startswith("2026-03-04T05:06:07")
    [failed] = paths["2" * 22]
    assert (failed["event"], failed["reason"]) == ("text-failed", "refused")
    assert paths["3" * 22] == [] and paths["4" * 22] == []

    downgrade(revision="0006")
    assert row_count_of("texts") == 3 and row_count_of("activities") == 1
    with db.engine.connect() as connection:
        columns = connection.execute(text("SELECT * FROM envelopes")).keys()
    assert "step" not in columns


def _insert_failed_text(
    connection: Any, index: int, account: str, to: str, code: str | None, at: datetime
) -> None:
    """A failed text of its own engagement (numbers are unique per engagement) under 0007."""
    names = {"account": account, "to": to, "code": code, "at": at,
             **{name: f"{name[0]}{index:02d}".ljust(22, "x")
                for name in ("engagement", "activity", "envelope", "text")}}  # fmt: skip
    for statement in (
        "INSERT INTO engagements (id, name, direction, status, delivery_type, account_id, "
        "created_at, updated_at) VALUES (:engagement, 'x', 'outbound', 'completed', "
        "'immediately', :account, :at, :at)",
        "INSERT INTO activities (id, name, kind, engagement_id, account_id, created_at, "
        "updated_at) VALUES (:activity, 'Blast', 'text', :engagement, :account, :at, :at)",
        "INSERT INTO envelopes (id, engagement_id, activity_id, phone_number, meta, status, "
        "retry_attempts, step, account_id, created_at, updated_at) VALUES (:envelope, "
        ":engagement, :activity, :to, '{}', 'failed', 0, 1, :account, :at, :at)",
        'INSERT INTO texts (id, engagement_id, envelope_id, activity_id, step, "to", "from", '
        "status, error_code, retry_attempts, account_id, created_at, updated_at) VALUES (:text, "
        ":engagement, :envelope, :activity, 1, :to, '+15195550100', 'failed', :code, 0, "
        ":account, :at, :at)",
    ):
        connection.execute(text(statement), names)


def _as_utc(value: datetime | str) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def test_0008_records_a_carrier_opt_out_per_account_and_number_twilio_refused_as_unsubscribed(
    fresh_app: Flask,
) -> None:
    upgrade(revision="0007")
    day = [datetime(2026, 3, day, tzinfo=UTC) for day in range(1, 6)]
    first, second = "a" * 22, "b" * 22
    # 21610 twice to one number of the first account (the older one dates its opt-out), once to
    # the same number in the second account, and failures for other reasons that record nothing.
    texts = [
        (first, "+15197566220", "21610", day[3]),
        (first, "+15197566220", "21610", day[1]),
        (first, "+15197566221", "30003", day[1]),
        (first, "+15197566222", None, day[1]),
        (second, "+15197566220", "21610", day[2]),
    ]
    with db.engine.begin() as connection:
        for account, key in ((first, "firstbank"), (second, "secondbank")):
            connection.execute(
                text(
                    "INSERT INTO accounts (id, key, name, created_at, updated_at) "
                    "VALUES (:id, :key, :key, :at, :at)"
                ),
                {"id": account, "key": key, "at": day[0]},
            )
        for index, row in enumerate(texts):
            _insert_failed_text(connection, index, *row)

    upgrade(revision="0008")

    with db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT account_id, phone_number, source, created_at FROM opt_outs "
                "ORDER BY created_at"
            )
        ).all()
    assert [(account, number, source, _as_utc(at)) for account, number, source, at in rows] == [
        (first, "+15197566220", "carrier", day[1]),
        (second, "+15197566220", "carrier", day[2]),
    ]

    downgrade(revision="0007")
    assert "opt_outs" not in table_names()
    assert row_count_of("texts") == len(texts)
