"""Queue names, in the priority order workers listen to them, and the enqueue helpers.

Jobs carry ids only; Postgres holds the truth. Job ids are deterministic and enqueued with
`unique=True`, so a repeated request or a sweep cannot start the same work twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
from flask import current_app
from rq import Queue
from rq.exceptions import DuplicateJobError

from campaign.extensions import redis_store

log = logging.getLogger(__name__)

REPLY_QUEUE = "reply"
DISPATCH_QUEUE = "dispatch"
SEND_QUEUE = "send"
# Auto-replies first: one text each, owed at once to a recipient who just wrote (a STOP's
# confirmation must not wait behind a million-envelope blast). Then fan-out: it is short and
# unblocks every send job behind it.
QUEUE_NAMES: tuple[str, ...] = (REPLY_QUEUE, DISPATCH_QUEUE, SEND_QUEUE)

# Set from the first enqueue Redis refuses until the next one it takes: an outage is logged
# once, not once per enqueue (the sweep alone asks every CAMPAIGN_SWEEP_INTERVAL).
_outage = threading.Event()


def get_queue(name: str) -> Queue:
    return Queue(name, connection=redis_store.connection)


def enqueue_unique(
    func: Callable[..., Any],
    *args: Any,
    queue: str,
    job_id: str,
    at: datetime | None = None,
) -> bool:
    """Enqueue `func(*args)` under `job_id` unless that job exists; False when it did or when
    Redis is unreachable (the sweep re-enqueues from Postgres, so nothing is lost)."""
    options: dict[str, Any] = {
        "job_id": job_id,
        "unique": True,
        "job_timeout": current_app.config["JOB_TIMEOUT"],
        "result_ttl": 3600,
        "failure_ttl": 7 * 24 * 3600,
    }
    try:
        if at is None:
            get_queue(queue).enqueue(func, *args, **options)
        else:
            get_queue(queue).enqueue_at(at, func, *args, **options)
    except DuplicateJobError:
        return False
    except redis.RedisError:
        if _outage.is_set():
            log.debug("could not enqueue %s; Redis is still unreachable", job_id)
        else:
            _outage.set()
            log.warning("could not enqueue %s; the sweep will pick it up", job_id, exc_info=True)
        return False
    if _outage.is_set():
        _outage.clear()
        log.info("Redis takes enqueues again")
    return True
