"""Ingest benchmark: envelopes uploaded in bulk through the HTTP API, against COPY and naive.

    .venv/bin/python -m bench.ingest [--envelopes 100000] [--naive 2000] [--json PATH]

Uploads N envelopes in bulk requests of 10,000 (`ext=bulk`) from two keep-alive connections,
timed from the first request sent to the last response received; samples the gunicorn workers'
peak RSS; then COPYs the same rows into a scratch table (the write-side ceiling) and stores a
smaller number one ORM object and one commit at a time (the naive baseline).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Iterator
from typing import Any

from bench.api import Api
from bench.ceiling import copy_ceiling
from bench.cpu import CpuAccount, postgres_pids
from bench.memory import PeakMemory
from bench.naive import naive_ingest
from bench.profiling import Profiler
from bench.recipients import TEMPLATE_BODY, Recipient, envelope_documents, recipients
from bench.report import Report, bench_main, ratio
from bench.stack import Stack


def upload_all(
    api: Api, engagement_id: str, items: list[Recipient], *, chunk: int, clients: int
) -> dict[str, Any]:
    """Upload `items` from `clients` threads, each on its own connection; timings."""
    documents: Iterator[dict[str, Any]] = envelope_documents(engagement_id, items, chunk)
    lock = threading.Lock()
    latencies: list[float] = []
    created = [0] * clients
    failures: list[BaseException] = []

    def next_document() -> dict[str, Any] | None:
        with lock:  # building a document is cheap; only the iterator needs the lock
            return next(documents, None)

    def client_loop(index: int) -> None:
        try:
            with api.client() as client:
                while not failures and (document := next_document()) is not None:
                    sent = time.monotonic()
                    created[index] += api.upload(client, document)
                    latencies.append(time.monotonic() - sent)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [
        threading.Thread(target=client_loop, args=(index,), daemon=True) for index in range(clients)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if failures:
        raise failures[0]
    return {"seconds": elapsed, "created": sum(created), "latencies": latencies}


def run(args: argparse.Namespace) -> Report:
    report = Report(
        f"Ingest: {args.envelopes:,} envelopes through the API "
        f"(bulk {args.chunk:,}, {args.clients} connections, gunicorn as the Procfile runs it)"
    )
    items = recipients(args.envelopes + args.naive + 200, seed=args.seed)
    engine_items, naive_items = items[: args.envelopes], items[args.envelopes : -200]
    warmup_items = items[-200:]
    with Stack(keep_logs=args.keep_logs) as stack:
        api = Api.for_new_account(stack)
        phone = api.phone_number("+15195550100", 10_000)
        # Warm both web workers (imports, connection pools) on an engagement of their own.
        warmup = api.campaign(phone, TEMPLATE_BODY, "warm-up")
        upload_all(api, warmup, warmup_items, chunk=25, clients=2)
        engagement = api.campaign(phone, TEMPLATE_BODY)
        memory = PeakMemory(stack.web_pids)
        memory.sample()
        baseline = memory.per_process_mb()
        profiler = Profiler(args.profile, wall=args.profile_wall) if args.profile else None
        if profiler:
            for pid in stack.web_pids():
                profiler.start(f"ingest-web-{pid}", pid)
        cpu = CpuAccount(
            {"web": stack.web_pids, "Postgres": postgres_pids, "client": lambda: [os.getpid()]},
            alone=frozenset({"client"}),
        )
        memory.start()
        cpu.start()
        result = upload_all(api, engagement, engine_items, chunk=args.chunk, clients=args.clients)
        cpu.stop()
        memory.stop()
        summaries = profiler.stop() if profiler else []
        with stack.database_connection() as connection:
            stored = connection.execute(
                "SELECT count(*) FROM envelopes WHERE engagement_id = %s", (engagement,)
            ).fetchone()[0]
            account_id, activity_id = connection.execute(
                "SELECT account_id, id FROM activities WHERE engagement_id = %s", (engagement,)
            ).fetchone()
        copy_seconds = copy_ceiling(
            stack.database_url,
            engine_items,
            account_id=account_id,
            engagement_id=engagement,
            activity_id=activity_id,
            chunk=args.chunk,
        )
        naive_engagement = api.campaign(phone, TEMPLATE_BODY, "naive")
        naive_seconds = naive_ingest(stack, naive_items, naive_engagement)

    engine_rate = args.envelopes / result["seconds"]
    copy_rate = args.envelopes / copy_seconds
    naive_rate = len(naive_items) / naive_seconds
    latencies = sorted(result["latencies"])
    report.add("engine", "envelopes stored", stored, "", f"= {args.envelopes:,}")
    report.add(
        "engine",
        "ingest rate (first request to last response)",
        engine_rate,
        "envelopes/s",
        ">= 20,000",
    )
    report.add("engine", "elapsed", result["seconds"], "s")
    report.add("engine", "bulk request latency p50", statistics.median(latencies), "s")
    report.add("engine", "bulk request latency max", latencies[-1], "s")
    report.add(
        "naive",
        f"ORM object + commit per envelope ({len(naive_items):,})",
        naive_rate,
        "envelopes/s",
    )
    report.add("ceiling", f"raw COPY of the same rows ({args.envelopes:,})", copy_rate, "rows/s")
    report.add("ratio", "engine / naive", ratio(engine_rate, naive_rate), "x", ">= 10")
    report.add("ratio", "engine / COPY ceiling", ratio(engine_rate, copy_rate), "")
    for name, peak in memory.per_process_mb().items():
        report.add(
            "memory",
            f"web worker {name.split('-', 1)[1]} peak RSS (idle {baseline.get(name, 0):.0f} MiB)",
            peak,
            "MiB",
            "< 150",
        )
    for part, micros in cpu.per_item_us(args.envelopes).items():
        report.add(
            "cpu", f"{part}, CPU per envelope (first request to last response)", micros, "us"
        )
    report.details.update(
        args=vars(args),
        latencies=latencies,
        baseline_mb=baseline,
        peak_mb=memory.per_process_mb(),
        profiles=[str(path) for path in summaries],
    )
    for path in summaries:
        print(path.read_text())
    return report


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--envelopes", type=int, default=100_000, help="envelopes to upload")
    parser.add_argument("--chunk", type=int, default=10_000, help="envelopes per bulk request")
    parser.add_argument("--clients", type=int, default=2, help="concurrent client connections")
    parser.add_argument(
        "--naive",
        type=int,
        default=2_000,
        help="envelopes for the naive one-commit-per-row baseline",
    )


def main() -> None:
    bench_main("python -m bench.ingest", __doc__, arguments, run)


if __name__ == "__main__":
    main()
