"""One commit per unit of work: hooks after the commit, undo hooks on a rollback, the request
and job boundaries, and no other module that commits."""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from campaign import create_app, transaction
from campaign.errors import Conflict
from campaign.extensions import db
from campaign.models import Account

PACKAGE = Path(__file__).resolve().parent.parent / "campaign"


def _stored_keys() -> list[str]:
    """Account keys as another connection sees them: only what was committed."""
    with db.engine.connect() as connection:
        return list(connection.execute(text("SELECT key FROM accounts ORDER BY key")).scalars())


def test_hooks_run_after_the_commit_in_the_order_asked(app_context: None) -> None:
    seen: list[tuple[str, list[str]]] = []
    db.session.add(Account(key="alpha", name="Alpha"))
    transaction.after_commit(lambda: seen.append(("first", _stored_keys())))
    transaction.after_commit(lambda: seen.append(("second", _stored_keys())))
    transaction.on_rollback(lambda: seen.append(("undo", [])))
    assert seen == []
    transaction.commit()
    assert seen == [("first", ["alpha"]), ("second", ["alpha"])]
    transaction.commit()  # the hooks ran once; a later commit has none
    assert len(seen) == 2
    assert not transaction.pending()


def test_a_rollback_drops_the_hooks_and_runs_the_undo_hooks(app_context: None) -> None:
    seen: list[str] = []
    db.session.add(Account(key="alpha", name="Alpha"))
    transaction.after_commit(lambda: seen.append("enqueued"))
    transaction.on_rollback(lambda: seen.append("mark taken back"))
    transaction.rollback()
    assert seen == ["mark taken back"]
    transaction.commit()
    assert seen == ["mark taken back"]
    assert _stored_keys() == []


def test_a_commit_that_fails_runs_the_undo_hooks_only(app_context: None) -> None:
    seen: list[str] = []
    db.session.add(Account(key="twice", name="One"))
    transaction.commit()
    db.session.add(Account(key="twice", name="Two"))  # the unique key refuses it at the commit
    transaction.after_commit(lambda: seen.append("enqueued"))
    transaction.on_rollback(lambda: seen.append("mark taken back"))
    with pytest.raises(Exception, match=r"(?i)unique"):
        transaction.commit()
    assert seen == ["mark taken back"]
    assert not transaction.pending()
    assert db.session.scalar(select(func.count()).select_from(Account)) == 1


def test_a_failing_hook_is_logged_and_the_others_still_run(
    app_context: None, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def broken() -> None:
        raise RuntimeError("Redis went away")

    transaction.after_commit(broken)
    transaction.after_commit(lambda: seen.append("refresh"))
    with caplog.at_level(logging.ERROR, logger="campaign.transaction"):
        transaction.commit()
    assert seen == ["refresh"]
    assert "after-commit hook failed" in caplog.text


def test_a_job_commits_what_it_leaves_and_rolls_back_when_it_raises(app_context: None) -> None:
    seen: list[str] = []

    @transaction.job
    def adds(key: str) -> str:
        db.session.add(Account(key=key, name=key))
        transaction.after_commit(lambda: seen.append(f"after {key}"))
        return key

    @transaction.job
    def fails() -> None:
        db.session.add(Account(key="lost", name="Lost"))
        transaction.after_commit(lambda: seen.append("after lost"))
        raise RuntimeError("the job failed")

    assert adds("kept") == "kept"
    with pytest.raises(RuntimeError):
        fails()
    assert _stored_keys() == ["kept"]
    assert seen == ["after kept"]


@pytest.fixture
def boundary_app(app: Flask, app_environment: dict[str, str]) -> Iterator[tuple[Flask, list[str]]]:
    """An app of its own (routes are added before its first request) on the test database."""
    application = create_app(app_environment)
    seen: list[str] = []

    @application.post("/adds/<key>")
    def adds(key: str) -> tuple[str, int]:
        db.session.add(Account(key=key, name=key))
        transaction.after_commit(lambda: seen.append(f"enqueued {key}: {_stored_keys()}"))
        return "added", 201

    @application.post("/refuses/<key>")
    def refuses(key: str) -> str:
        db.session.add(Account(key=key, name=key))
        db.session.flush()
        transaction.after_commit(lambda: seen.append(f"enqueued {key}"))
        transaction.on_rollback(lambda: seen.append(f"undone {key}"))
        raise Conflict("refused after writing", at="attributes/key")

    with application.app_context():
        yield application, seen
        db.session.remove()
        db.engine.dispose()


def test_a_request_commits_once_and_its_hooks_run_after(
    boundary_app: tuple[Flask, list[str]],
) -> None:
    application, seen = boundary_app
    response = application.test_client().post("/adds/alpha")
    assert response.status_code == 201
    assert seen == ["enqueued alpha: ['alpha']"]


def test_a_request_that_fails_stores_and_enqueues_nothing(
    boundary_app: tuple[Flask, list[str]],
) -> None:
    application, seen = boundary_app
    response = application.test_client().post("/refuses/beta")
    assert response.status_code == 409
    # The service's place in the resource object became a pointer into the request document.
    assert response.json["errors"][0]["source"] == {"pointer": "/data/attributes/key"}
    assert seen == ["undone beta"]
    assert _stored_keys() == []


def _session_calls(tree: ast.AST) -> list[int]:
    """Lines that call `.commit()` or `.rollback()` on something."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("commit", "rollback")
        and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "transaction")
    ]


def test_only_the_transaction_module_commits_or_rolls_back() -> None:
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "transaction.py"
        and (lines := _session_calls(ast.parse(path.read_text(), str(path))))
    }
    assert found == {}


def test_services_never_commit() -> None:
    """(A service may end a transaction that fails anyway, to read afresh why it failed.)"""
    services = PACKAGE / "services"
    calls = {
        path.name: [
            node.lineno
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "transaction"
            and node.attr in ("commit", "job")
        ]
        for path in sorted(services.glob("*.py"))
    }
    assert {name: lines for name, lines in calls.items() if lines} == {}
