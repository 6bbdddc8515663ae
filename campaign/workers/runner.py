"""`campaign worker`: RQ workers that run every job inside the app context.

The production worker forks a work horse per job (RQ's default) and is a HerokuWorker, so
SIGTERM lets the current job finish; a Redis outage ends only RQ's loop, which starts again
once Redis answers. Background threads move scheduled jobs and ask for a sweep every
CAMPAIGN_SWEEP_INTERVAL seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import suppress
from typing import Any

import redis
from flask import Flask
from redis.backoff import ExponentialBackoff
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.worker import HerokuWorker

from campaign import logs
from campaign.extensions import db, redis_store

# Imported here, in the worker's parent, so that each forked work horse starts with them loaded
# instead of importing the providers' HTTP stacks and the template engine for every job.
from campaign.providers import console  # noqa: F401
from campaign.providers.kannel import sending as kannel_sending  # noqa: F401
from campaign.providers.twilio import sending as twilio_sending  # noqa: F401
from campaign.workers import (
    send,  # noqa: F401
    shutdown,
)
from campaign.workers.queues import QUEUE_NAMES
from campaign.workers.scheduler import Scheduler
from campaign.workers.sweep import enqueue_sweep

log = logging.getLogger(__name__)

# The longest pause between pings while Redis does not answer.
MAX_RECONNECT_BACKOFF = 10.0
# Seconds the thread reading the worker's command channel waits per read. RQ waits 60 s, and a
# worker that stops before the channel has confirmed its subscription joins that thread for the
# whole wait (redis-py's get_message waits for the subscription first): a burst worker with
# nothing to do took 60 s to return, and `campaign worker` missed the 30 s between SIGTERM and
# SIGKILL. A second bounds the stop; the thread costs one idle read a second.
COMMAND_CHANNEL_WAIT = 1.0


class AppContextMixin:
    """Runs each job with the Flask app context pushed; stops within a second."""

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

    def subscribe(self: Any) -> None:
        """RQ's subscription to the worker's command channel, read with a short wait."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=COMMAND_CHANNEL_WAIT,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def maintain_heartbeats(self, job: Any) -> None:
        # Called while the work horse runs. Letting a Redis error out of here would end RQ's
        # loop with the horse still sending; keep waiting for it instead (its texts are claimed
        # in Postgres, so nothing it sends is sent again).
        try:
            super().maintain_heartbeats(job)  # type: ignore[misc]
        except redis.RedisError:
            log.warning("could not send the job heartbeat to Redis; the job carries on")


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
                enqueue_sweep()  # a Redis outage is logged, once, by enqueue_unique
        except Exception:  # nothing must end the thread; the next tick retries
            log.warning("could not enqueue the sweep", exc_info=True)


def _discard(worker: Any) -> None:
    """Stop what a worker whose loop ended on a Redis error left running (its pubsub thread,
    which would otherwise retry forever); its teardown could not reach Redis to do it."""
    thread = getattr(worker, "pubsub_thread", None)
    if thread is not None:
        thread.stop()
        thread.join(timeout=5)
    with suppress(redis.RedisError):
        worker.pubsub.close()


def _stopping(worker: Any) -> bool:
    """Whether SIGTERM (or SIGINT) reached the worker: RQ notes the time in every case."""
    return worker._shutdown_requested_date is not None


def _wait_for_redis(app: Flask, worker: Any) -> bool:
    """Ping with backoff until Redis answers (True) or SIGTERM arrives (False)."""
    with app.app_context():
        connection = redis_store.connection
    backoff = ExponentialBackoff(cap=MAX_RECONNECT_BACKOFF, base=0.5)
    failures = 0
    while not _stopping(worker):
        try:
            # At least one pause, so a loop that keeps failing for another reason cannot spin.
            time.sleep(backoff.compute(failures))
            connection.ping()
        except (redis.RedisError, StopRequested):  # RQ's SIGTERM handler raises StopRequested
            failures += 1
            continue
        return not _stopping(worker)
    return False


def _next_worker(app: Flask, worker_class: type[Any], previous: Any) -> Any | None:
    """A fresh worker once Redis answers (naming one talks to Redis); None on SIGTERM."""
    while _wait_for_redis(app, previous):
        try:
            return build_worker(app, worker_class)
        except redis.RedisError:
            continue
    return None


def run_worker(app: Flask, *, burst: bool = False, in_process: bool = False) -> None:
    """Work the queues until SIGTERM (or until they are empty, with `burst`).

    RQ's loop ends on any Redis error; it is started again, with a fresh worker, as soon as
    Redis answers, so an outage pauses the worker instead of ending it. What Redis lost (it
    may come back empty) the sweep re-dispatches from Postgres.
    """
    logs.configure(app.config)
    worker_class = InProcessWorker if in_process else CampaignWorker
    if burst:
        build_worker(app, worker_class).work(burst=True, with_scheduler=True)
        return
    with app.app_context():
        scheduler = Scheduler(redis_store.connection, QUEUE_NAMES)
    stop = threading.Event()
    threads = [
        threading.Thread(target=_ask_for_sweeps, args=(app, stop), daemon=True, name="sweep-timer"),
        threading.Thread(target=scheduler.run, args=(stop,), daemon=True, name="scheduler"),
    ]
    for thread in threads:
        thread.start()
    try:
        worker = build_worker(app, worker_class)
        while True:
            # Redis errors end RQ's loop and then its teardown, which cannot reach Redis either.
            with suppress(redis.RedisError):
                worker.work(with_scheduler=False)
            if _stopping(worker):
                break
            log.warning("the worker's loop ended; it starts again once Redis answers")
            _discard(worker)
            next_worker = _next_worker(app, worker_class, worker)
            if next_worker is None:
                break
            log.info("Redis answers again; the worker carries on")
            worker = next_worker
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
