"""`campaign worker`: an RQ worker that runs every job inside the app context.

HerokuWorker finishes the current job on SIGTERM (Heroku's shutdown signal) before exiting.
Each job runs in a forked work horse, which must not reuse the parent's database connections.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from rq import Queue
from rq.worker import HerokuWorker

from campaign.extensions import db, redis_store
from campaign.workers.queues import QUEUE_NAMES


class CampaignWorker(HerokuWorker):
    """Runs jobs with the Flask app context pushed and a fresh connection pool per work horse."""

    app: Flask

    def perform_job(self, job: Any, queue: Queue) -> bool:
        with self.app.app_context():
            # A forked child shares the parent's sockets; drop them without closing.
            db.engine.dispose(close=False)
            try:
                return super().perform_job(job, queue)
            finally:
                db.session.remove()


def build_worker(app: Flask, worker_class: type[CampaignWorker] = CampaignWorker) -> CampaignWorker:
    """A worker on the campaign queues, in priority order."""
    with app.app_context():
        connection = redis_store.connection
    queues = [Queue(name, connection=connection) for name in QUEUE_NAMES]
    worker = worker_class(queues, connection=connection)
    worker.app = app
    return worker


def run_worker(app: Flask, *, burst: bool = False) -> None:
    """Work the queues until SIGTERM (or until empty with `burst`)."""
    build_worker(app).work(burst=burst, with_scheduler=True)
