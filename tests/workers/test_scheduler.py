"""The workers' scheduler thread's tick: due jobs move, and a dead holder's lock is taken over
while a live holder's is left alone (real Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from rq.scripts import acquire_or_refresh_lock

from campaign.extensions import redis_store
from campaign.workers.progress import refresh_engagement
from campaign.workers.queues import DISPATCH_QUEUE, QUEUE_NAMES, enqueue_unique, get_queue
from campaign.workers.scheduler import STALE_AFTER, TICK, Scheduler

LOCK_TTL = TICK + 60  # what RQ gives a lock at each refresh


def _hold(holder: str, *, silent_for: float) -> None:
    """Every queue's scheduler lock held by `holder`, last refreshed `silent_for` seconds ago."""
    connection = redis_store.connection
    for name in QUEUE_NAMES:
        key = RQScheduler.get_locking_key(name)
        assert acquire_or_refresh_lock(connection, key, holder, LOCK_TTL) == "acquired"
        connection.pexpire(key, int((LOCK_TTL - silent_for) * 1000))


def _holders() -> set[str]:
    connection = redis_store.connection
    return {
        (connection.get(RQScheduler.get_locking_key(name)) or b"").decode() for name in QUEUE_NAMES
    }


def test_a_lock_whose_holder_stopped_refreshing_is_taken_over_and_due_jobs_move(
    app: Flask, app_context: None
) -> None:
    _hold("crashed", silent_for=STALE_AFTER + 1)
    past = datetime.now(UTC) - timedelta(seconds=1)
    assert enqueue_unique(
        refresh_engagement, "e1", queue=DISPATCH_QUEUE, job_id="progress-e1-1", at=past
    )
    scheduler = Scheduler(redis_store.connection, QUEUE_NAMES)
    scheduler.tick()
    assert scheduler.holds == set(QUEUE_NAMES)
    assert "crashed" not in _holders()
    queue = get_queue(DISPATCH_QUEUE)
    assert queue.get_job_ids() == ["progress-e1-1"]
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == []
    scheduler.release()
    assert _holders() == {""}


def test_a_lock_refreshed_within_the_stale_bound_stays_with_its_holder(
    app: Flask, app_context: None
) -> None:
    _hold("alive", silent_for=STALE_AFTER - 2)
    past = datetime.now(UTC) - timedelta(seconds=1)
    assert enqueue_unique(
        refresh_engagement, "e1", queue=DISPATCH_QUEUE, job_id="progress-e1-1", at=past
    )
    scheduler = Scheduler(redis_store.connection, QUEUE_NAMES)
    scheduler.tick()
    assert scheduler.holds == set()
    assert _holders() == {"alive"}
    queue = get_queue(DISPATCH_QUEUE)
    assert queue.get_job_ids() == []
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == ["progress-e1-1"]
