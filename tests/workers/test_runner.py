"""The worker classes' own behaviour on the real Redis: a worker that stops at once (a burst
with nothing to do, a SIGTERM just after start) is not held by its command channel's reader."""

from __future__ import annotations

import threading

import pytest
from flask import Flask

from campaign.workers.runner import (
    COMMAND_CHANNEL_WAIT,
    CampaignWorker,
    InProcessWorker,
    build_worker,
)

# RQ's own wait: the reader thread, joined before its subscription was confirmed, held the
# stop this long.
RQ_WAIT = 60.0


@pytest.mark.parametrize("worker_class", [CampaignWorker, InProcessWorker])
def test_the_command_channel_is_read_with_a_short_wait(app: Flask, worker_class: type) -> None:
    worker = build_worker(app, worker_class)
    worker.subscribe()
    try:
        assert worker.pubsub_thread.sleep_time == COMMAND_CHANNEL_WAIT < RQ_WAIT
    finally:
        worker.unsubscribe()
    assert not worker.pubsub_thread.is_alive()


def test_stopping_right_after_subscribing_never_waits_out_rqs_read(app: Flask) -> None:
    """Subscribe then stop at once, as a burst worker with nothing to do does, many times: each
    stop is over well before RQ's 60 s wait would have ended it."""
    worker = build_worker(app, InProcessWorker)
    for _ in range(20):
        worker.subscribe()
        stopping = threading.Thread(target=worker.unsubscribe, daemon=True)
        stopping.start()
        stopping.join(timeout=10 * COMMAND_CHANNEL_WAIT)
        assert not stopping.is_alive()
