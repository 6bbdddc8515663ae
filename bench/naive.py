"""The baselines a newcomer would write with the same libraries, run in the same benchmark.

Ingest: one ORM `Envelope` and one commit per envelope, each number checked with phonenumbers
(in-process, without HTTP: generous to the baseline). Dispatch: one RQ job per text on a queue
of its own, run by the default forking `rq worker`, each job one blocking httpx POST to the
sink (its body rendered before enqueueing and no database work in the job: generous again).
Flows: one such job per run, a blocking GET of the customer's service, then the POST.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis
from rq import Queue, Worker

from bench.naive_job import run_one_flow, send_one_text
from bench.recipients import Recipient
from bench.stack import BIN, Stack, stop_group, wait_for

NAIVE_QUEUE = "bench-naive"


def naive_ingest(stack: Stack, items: Sequence[Recipient], engagement_id: str) -> float:
    """Seconds to store `items` one ORM object and one commit at a time."""
    from campaign import create_app
    from campaign.e164 import to_e164
    from campaign.extensions import db
    from campaign.models import Engagement, Envelope

    app = create_app(stack.env)
    with app.app_context():
        engagement = db.session.get(Engagement, engagement_id)
        assert engagement is not None
        account_id = engagement.account_id
        activity_id = engagement.activity.id if engagement.activity else None
        db.session.commit()
        started = time.monotonic()
        for item in items:
            db.session.add(
                Envelope(
                    account_id=account_id,
                    engagement_id=engagement_id,
                    activity_id=activity_id,
                    phone_number=to_e164(item.raw, "US"),
                    meta=item.meta,
                )
            )
            db.session.commit()
        elapsed = time.monotonic() - started
        db.session.remove()
        db.engine.dispose()
    return elapsed


def naive_dispatch(
    stack: Stack,
    items: Sequence[Recipient],
    sender: str,
    template: str,
    *,
    workers: int = 2,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Enqueue one job per text, let `workers` forking `rq worker`s send them; the timings."""
    sink = stack.sink
    jobs = (
        (
            send_one_text,
            (
                sink.messages_url, sink.account_sid, sink.auth_token, item.e164, sender,
                template.replace("{{first-name}}", str(item.meta["first-name"])).replace(
                    "{{city}}", str(item.meta["city"])
                ),
            ),
        )
        for item in items
    )  # fmt: skip
    return _one_job_each(stack, jobs, len(items), workers=workers, timeout=timeout)


def naive_flows(
    stack: Stack,
    orders: Sequence[tuple[str, Recipient]],
    sender: str,
    bodies: dict[str, str],
    *,
    workers: int = 2,
    timeout: float = 300.0,
) -> dict[str, Any]:
    """Enqueue one job per run (GET the order, choose the text, POST it) for each (order URL,
    recipient), let `workers` forking `rq worker`s run them; the timings."""
    sink = stack.sink
    jobs = (
        (
            run_one_flow,
            (url, sink.messages_url, sink.account_sid, sink.auth_token, item.e164, sender, bodies),
        )
        for url, item in orders
    )
    return _one_job_each(stack, jobs, len(orders), workers=workers, timeout=timeout)


def _one_job_each(
    stack: Stack,
    jobs: Iterable[tuple[Callable[..., Any], tuple[Any, ...]]],
    expected: int,
    *,
    workers: int,
    timeout: float,
) -> dict[str, Any]:
    connection = redis.Redis.from_url(stack.redis_url)
    before = Worker.count(connection=connection)
    processes = [
        stack.spawn(
            [str(BIN / "rq"), "worker", NAIVE_QUEUE, "--url", stack.redis_url],
            f"naive-rq-worker-{index}",
        )
        for index in range(workers)
    ]
    wait_for(
        lambda: Worker.count(connection=connection) >= before + workers,
        60,
        "the naive rq workers to register",
    )
    queue = Queue(NAIVE_QUEUE, connection=connection)
    stack.sink.reset()
    started = time.monotonic()
    for function, args in jobs:
        queue.enqueue(function, *args)
    enqueued = time.monotonic()
    count = stack.sink.wait_for(expected, timeout=timeout)
    stats = stack.sink.stats(full=True)
    for process in processes:
        stop_group(process)
    return {
        "started": started,
        "enqueue_seconds": enqueued - started,
        "count": count,
        "last": stats["last"],
        "duplicates": stats["duplicates"],
        "seconds": (stats["last"] - started) if stats["last"] else float("nan"),
    }
