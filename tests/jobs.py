"""Running the RQ jobs of a test to completion with a real worker on the real Redis."""

from __future__ import annotations

import time

from flask import Flask
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler

from campaign.extensions import redis_store
from campaign.workers.queues import DISPATCH_QUEUE, QUEUE_NAMES
from campaign.workers.runner import InProcessWorker, build_worker


def pending_jobs(app: Flask) -> int:
    """Jobs queued or scheduled on the campaign queues."""
    with app.app_context():
        connection = redis_store.connection
        queues = [Queue(name, connection=connection) for name in QUEUE_NAMES]
        return sum(queue.count + ScheduledJobRegistry(queue=queue).count for queue in queues)


def drain(app: Flask, *, timeout: float = 30.0) -> int:
    """Work every queued and scheduled job (scheduled ones when due) until none is left.

    Returns how many rounds it took; raises when jobs are still pending at `timeout`.
    """
    worker = build_worker(app, InProcessWorker)
    with app.app_context():
        connection = redis_store.connection
    deadline = time.monotonic() + timeout
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        scheduler = RQScheduler(QUEUE_NAMES, connection=connection)
        scheduler.acquire_locks()
        scheduler.enqueue_scheduled_jobs()
        scheduler.release_locks()
        worker.work(burst=True, with_scheduler=False)
        if pending_jobs(app) == 0:
            return rounds
        time.sleep(0.1)
    pending = pending_jobs(app)
    raise AssertionError(f"{pending} jobs still pending after {timeout} s: {_pending_ids(app)}")


def _pending_ids(app: Flask) -> list[str]:
    with app.app_context():
        connection = redis_store.connection
        queues = [Queue(name, connection=connection) for name in QUEUE_NAMES]
        return [
            job_id
            for queue in queues
            for job_id in queue.get_job_ids() + ScheduledJobRegistry(queue=queue).get_job_ids()
        ]


def run_dispatch_only(app: Flask) -> None:
    """Work the dispatch queue alone: texts are created and send jobs enqueued, none sent."""
    with app.app_context():
        worker = InProcessWorker(
            [Queue(DISPATCH_QUEUE, connection=redis_store.connection)],
            connection=redis_store.connection,
        )
    worker.app, worker.parent_pid = app, build_worker(app, InProcessWorker).parent_pid
    worker.work(burst=True, with_scheduler=False)
