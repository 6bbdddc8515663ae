"""One commit per unit of work, and what runs once it has committed.

A service is a verb over models: it changes rows and asks for follow-up work with
`after_commit(...)` (an enqueue, a refresh), but it never commits. The boundary that began the
work ends it here: the request (`campaign.CampaignFlask.dispatch_request`), the job (`job`,
around every RQ job function), each CLI command, and inside a long job each unit that must be
stored before the job goes on (a round's claims before its texts leave, a fan-out batch before
its send job is enqueued). `commit()` commits, then runs the hooks in the order they were asked
for; `rollback()` drops them. So a worker woken by a hook always reads what woke it, and a
request that fails enqueues nothing. Several verbs in one request (Atomic Operations, an
Idempotency-Key's stored answer) share the one commit.

A hook that fails after the commit is logged, never raised: what was committed was accepted,
and every hook here only hastens work the sweep finds from Postgres anyway.

`on_rollback(...)` is for the one write that must precede the commit outside Postgres (the stop
mark a pause writes to Redis before it answers): it is undone when the transaction does not
commit.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from campaign.extensions import db

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")
_AFTER_COMMIT = "campaign.after_commit"
_ON_ROLLBACK = "campaign.on_rollback"


def _hooks(kind: str) -> list[Callable[[], Any]]:
    return db.session().info.setdefault(kind, [])


def after_commit(hook: Callable[[], Any]) -> None:
    """Run `hook()` once the current transaction commits; never if it rolls back."""
    _hooks(_AFTER_COMMIT).append(hook)


def on_rollback(hook: Callable[[], Any]) -> None:
    """Run `hook()` if the current transaction rolls back (or its commit fails)."""
    _hooks(_ON_ROLLBACK).append(hook)


def commit() -> None:
    """Commit the unit of work, then run its after-commit hooks in order."""
    try:
        db.session.commit()
    except BaseException:
        rollback()
        raise
    info = db.session().info
    info.pop(_ON_ROLLBACK, None)
    for hook in info.pop(_AFTER_COMMIT, ()):
        try:
            hook()
        except Exception:
            log.exception("an after-commit hook failed; the sweep will redo its work")


def rollback() -> None:
    """Roll the unit of work back: its after-commit hooks are dropped, its undo hooks run."""
    db.session.rollback()
    info = db.session().info
    info.pop(_AFTER_COMMIT, None)
    for hook in info.pop(_ON_ROLLBACK, ()):
        try:
            hook()
        except Exception:
            log.exception("a rollback hook failed")


def pending() -> bool:
    """Whether hooks wait on a commit or rollback that never came (checked at teardown)."""
    info = db.session().info
    return bool(info.get(_AFTER_COMMIT) or info.get(_ON_ROLLBACK))


def job(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """The job boundary: what a job leaves uncommitted commits when it returns (its hooks run
    then) and rolls back when it raises, before RQ records the job's end."""

    @functools.wraps(func)
    def unit(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            result = func(*args, **kwargs)
        except BaseException:
            rollback()
            raise
        commit()
        return result

    return unit
