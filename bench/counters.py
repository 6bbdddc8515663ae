"""Counter lag: how long after a text reaches the carrier `count-complete` counts it.

    .venv/bin/python -m bench.counters [--texts 300] [--throughput 20] [--poll 0.05]

A sender capped at `--throughput` sends `--texts` texts through 2 workers while one thread polls,
every `--poll` seconds, three things side by side: the sink's count (the carrier), the envelopes
stored `completed` in Postgres (the truth the counters are recounted from: its lag is the floor
any counter has, since a send round records its texts when the round ends), and the
engagement's `count-complete` as the API answers it. For the k-th text, its lag is the first
poll that saw k counted minus the first poll that saw k at the sink.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from bench.api import Api
from bench.dispatch import SENDER, prepare, schedule, wait_completed
from bench.recipients import recipients
from bench.report import Report, bench_main
from bench.stack import Stack


def _first_seen(samples: list[tuple[float, int]], count: int) -> list[float]:
    """For k = 1..count, the time of the first sample whose value was at least k."""
    times: list[float] = []
    for moment, value in samples:
        while len(times) < min(value, count):
            times.append(moment)
    return times


def _lags(counted: list[float], arrived: list[float]) -> list[float]:
    return [seen - reached for seen, reached in zip(counted, arrived, strict=False)]


def _poll(
    stack: Stack, api: Api, engagement: str, every: float, stop: threading.Event
) -> dict[str, list[tuple[float, int]]]:
    samples: dict[str, list[tuple[float, int]]] = {"sink": [], "postgres": [], "api": []}
    with api.client() as client, stack.database_connection() as connection:
        while not stop.is_set():
            moment = time.monotonic()
            samples["sink"].append((moment, stack.sink.stats()["count"]))
            stored = connection.execute(
                "SELECT count(*) FROM envelopes WHERE engagement_id = %s AND status = 'completed'",
                (engagement,),
            ).fetchone()[0]
            samples["postgres"].append((moment, stored))
            attributes = client.get(f"/api/v1/engagements/{engagement}").json()["data"][
                "attributes"
            ]
            samples["api"].append((moment, attributes["count-complete"] or 0))
            time.sleep(max(0.0, every - (time.monotonic() - moment)))
    return samples


def run(args: argparse.Namespace) -> Report:
    report = Report(
        f"Counter lag: {args.texts:,} texts at {args.throughput}/s, polled every {args.poll} s"
    )
    items = recipients(args.texts, seed=args.seed)
    with Stack(keep_logs=args.keep_logs) as stack:
        api = Api.for_new_account(stack)
        phone = api.phone_number(SENDER, args.throughput)
        engagement = prepare(api, phone, items, "counters")
        stack.sink.reset()
        stop = threading.Event()
        result: dict[str, dict[str, list[tuple[float, int]]]] = {}
        poller = threading.Thread(
            target=lambda: result.update(samples=_poll(stack, api, engagement, args.poll, stop))
        )
        poller.start()
        patched = schedule(api, engagement)
        stack.sink.wait_for(args.texts, timeout=args.texts / args.throughput * 3 + 60)
        completed = wait_completed(stack, engagement, 60)
        time.sleep(2)  # the counters settle after the last text
        stop.set()
        poller.join()
    samples = result["samples"]
    arrived = _first_seen(samples["sink"], args.texts)
    report.add("engine", "texts at the sink", len(arrived), "", f"= {args.texts:,}")
    for name, label in (("postgres", "stored completed (floor)"), ("api", "count-complete")):
        lags = _lags(_first_seen(samples[name], args.texts), arrived)
        if not lags:
            continue
        cuts = statistics.quantiles(lags, n=20) if len(lags) > 1 else lags * 19
        report.add(name, f"{label} lag p50", statistics.median(lags), "s")
        report.add(name, f"{label} lag p95", cuts[18], "s")
        report.add(name, f"{label} lag max", max(lags), "s")
    if completed is not None and arrived:
        report.add("api", "last text to engagement completed", completed - arrived[-1], "s")
    report.add("engine", "PATCH to last text", (arrived[-1] - patched) if arrived else 0, "s")
    return report


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--throughput", type=int, default=20)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between polls")


def main() -> None:
    bench_main("bench.counters", __doc__, _arguments, run)


if __name__ == "__main__":
    main()
