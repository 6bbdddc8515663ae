"""`campaign worker`: RQ workers that run every job inside the app context.

The production worker forks a work horse per job (RQ's default) and is a HerokuWorker, so
SIGTERM lets the current job finish. A work horse must not reuse its parent's database
connections. A background thread asks for a sweep every CAMPAIGN_SWEEP_INTERVAL seconds.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from flask import Flask
from rq import Queue, SimpleWorker
from rq.worker import HerokuWorker

from campaign.extensions import db, redis_store

# Imported here, in the worker's parent, so that each forked work horse starts with them loaded
# instead of importing the providers' HTTP stacks and the template engine for every job.
from campaign.providers import console, kannel, twilio  # noqa: F401
from campaign.workers import (
    send,  # noqa: F401
    shutdown,
)
from campaign.workers.queues import QUEUE_NAMES
from campaign.workers.sweep import enqueue_sweep

log = logging.getLogger(__name__)


class AppContextMixin:
    """Runs each job with the Flask app context pushed."""

    app: Flask
    parent_pid: int

    def perform_job(self, job: Any, queue: Queue) -> bool:
        with self.app.app_context():
            if os.getpid() != self.parent_pid:
                # A forked work horse shares the parent's sockets; drop them without closing.
                db.engine.dispose(close=False)
            try:
                return super().perform_job(job, queue)  # type: ignore[misc]
            finally:
                db.session.remove()


class CampaignWorker(AppContextMixin, HerokuWorker):
    """The production worker: a forked work horse per job, graceful on SIGTERM.

    On SIGTERM the work horse is told (SIGRTMIN) and its job winds down at the end of its
    current round; only if it is still running `imminent_shutdown_delay` seconds later is it
    interrupted, inside Heroku's 30 seconds between SIGTERM and SIGKILL.
    """

    imminent_shutdown_delay = 20

    def request_stop_sigrtmin(self, signum: int, frame: Any) -> None:
        shutdown.request()
        super().request_stop_sigrtmin(signum, frame)


class InProcessWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in its own process (tests, and `campaign worker --in-process`)."""


def build_worker(app: Flask, worker_class: type[Any] = CampaignWorker) -> Any:
    """A worker on the campaign queues, in priority order."""
    with app.app_context():
        connection = redis_store.connection
    queues = [Queue(name, connection=connection) for name in QUEUE_NAMES]
    worker = worker_class(queues, connection=connection)
    worker.app, worker.parent_pid = app, os.getpid()
    return worker


def _ask_for_sweeps(app: Flask, stop: threading.Event) -> None:
    interval = app.config["SWEEP_INTERVAL"]
    while not stop.wait(interval):
        try:
            with app.app_context():
                enqueue_sweep()
        except Exception:  # a Redis hiccup must not end the thread; the next tick retries
            log.warning("could not enqueue the sweep", exc_info=True)


def run_worker(app: Flask, *, burst: bool = False, in_process: bool = False) -> None:
    """Work the queues until SIGTERM (or until they are empty, with `burst`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    if not burst:
        threading.Thread(
            target=_ask_for_sweeps, args=(app, stop), daemon=True, name="sweep-timer"
        ).start()
    worker = build_worker(app, InProcessWorker if in_process else CampaignWorker)
    try:
        worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()
