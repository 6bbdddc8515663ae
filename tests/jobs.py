"""Running the RQ jobs of a test to completion with a real worker on the real Redis."""

from __future__ import annotations

import time

from flask import Flask
from rq import Queue
from rq.job import Job
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
    raise AssertionError(
        f"{pending} jobs still pending after {timeout} s (now {time.time():.3f}): "
        f"{_pending_ids(app)}; scheduler locks: {_locks(app)}"
    )


def _locks(app: Flask) -> dict[str, object]:
    with app.app_context():
        connection = redis_store.connection
        keys = connection.keys("rq:scheduler-lock:*")
        return {key.decode(): (connection.get(key), connection.ttl(key)) for key in keys}


def _pending_ids(app: Flask) -> list[str]:
    """Each pending job: its id, where it waits (queued, or scheduled at a moment) and the
    status its hash holds (`gone` when the hash has expired or was deleted)."""
    with app.app_context():
        connection = redis_store.connection
        described = []
        for name in QUEUE_NAMES:
            queue = Queue(name, connection=connection)
            registry = ScheduledJobRegistry(queue=queue)
            waiting = [(job_id, "queued") for job_id in queue.get_job_ids()] + [
                (job_id, f"scheduled at {registry.get_scheduled_time(job_id).isoformat()}")
                for job_id in registry.get_job_ids()
            ]
            for job_id, where in waiting:
                job = (
                    Job.fetch(job_id, connection=connection)
                    if Job.exists(job_id, connection)
                    else None
                )
                status = job.get_status() if job is not None else "gone"
                described.append(f"{job_id} ({where}, {status})")
        return described


def run_dispatch_only(app: Flask) -> None:
    """Work the dispatch queue alone: texts are created and send jobs enqueued, none sent."""
    with app.app_context():
        worker = InProcessWorker(
            [Queue(DISPATCH_QUEUE, connection=redis_store.connection)],
            connection=redis_store.connection,
        )
    worker.app, worker.parent_pid = app, build_worker(app, InProcessWorker).parent_pid
    worker.work(burst=True, with_scheduler=False)
