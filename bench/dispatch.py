"""Dispatch benchmark: an engagement PATCHed to `scheduled` until the sink has every text.

    .venv/bin/python -m bench.dispatch [--texts 20000] [--latency-runs 5] [--naive 1000]

In one run: the raw HTTP ceiling (plain asyncio, 64 keep-alive connections) against the same sink
and the engine's own provider alone on it; the latency from the PATCH to the first text at the sink
(median of small runs); the engine sending N texts through 2 `campaign worker`s with the sender's
throughput at 10,000/s (texts/s from the PATCH to the last text at the sink, the workers' peak
RSS including their work horses, every text exactly once); and the naive one-job-per-text design.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench.api import Api
from bench.ceiling import http_ceiling, provider_ceiling, twilio_forms
from bench.cpu import CpuAccount, postgres_pids
from bench.memory import PeakMemory
from bench.naive import naive_dispatch
from bench.profiling import Profiler
from bench.recipients import TEMPLATE_BODY, Recipient, envelope_documents, recipients
from bench.report import Report, bench_main, ratio
from bench.stack import Stack

SENDER = "+15195550100"


def prepare(api: Api, phone: str, items: list[Recipient], name: str) -> str:
    """An engagement with `items` as envelopes (untimed), ready to schedule."""
    engagement = api.campaign(phone, TEMPLATE_BODY, name)
    with api.client() as client:
        for document in envelope_documents(engagement, items, 10_000):
            api.upload(client, document)
    return engagement


def engagement_status(stack: Stack, engagement_id: str) -> str:
    with stack.database_connection() as connection:
        return connection.execute(
            "SELECT status FROM engagements WHERE id = %s", (engagement_id,)
        ).fetchone()[0]


def wait_completed(stack: Stack, engagement_id: str, timeout: float) -> float | None:
    """Monotonic time the engagement was seen `completed`, or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engagement_status(stack, engagement_id) == "completed":
            return time.monotonic()
        time.sleep(0.1)
    return None


def schedule(api: Api, engagement_id: str, delivery_type: str = "immediately") -> float:
    """PATCH the engagement to `scheduled`; the monotonic time just before the request went."""
    request = api.schedule_request(engagement_id, delivery_type)
    with httpx.Client(timeout=60) as client:
        started = time.monotonic()
        response = client.send(request)
    if response.status_code != 202:
        raise RuntimeError(f"PATCH to scheduled: {response.status_code} {response.text[:500]}")
    return started


def latency_runs(stack: Stack, api: Api, phone: str, batches: list[list[Recipient]]) -> list[float]:
    """Seconds from the PATCH to the first text at the sink, per small engagement."""
    latencies = []
    for index, items in enumerate(batches):
        engagement = prepare(api, phone, items, f"latency-{index}")
        stack.sink.reset()
        patched = schedule(api, engagement)
        stack.sink.wait_for(1, timeout=60)
        first = stack.sink.stats()["first"]
        latencies.append(first - patched if first else float("nan"))
        stack.sink.wait_for(len(items), timeout=60)
        wait_completed(stack, engagement, 60)  # idle workers before the next run
        time.sleep(0.5)
    return latencies


def text_statuses(stack: Stack, engagement_id: str) -> dict[str, int]:
    with stack.database_connection() as connection:
        return dict(
            connection.execute(
                "SELECT status, count(*) FROM texts WHERE engagement_id = %s GROUP BY status",
                (engagement_id,),
            ).fetchall()
        )


def engine_run(
    stack: Stack,
    api: Api,
    phone: str,
    items: list[Recipient],
    profiler: Profiler | None,
    timeout: float,
    configure: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Send `items` through the workers; `configure(engagement id)` runs before scheduling."""
    engagement = prepare(api, phone, items, "engine")
    if configure is not None:
        configure(engagement)
    stack.sink.reset()
    memory = PeakMemory(stack.worker_pids)
    memory.sample()
    idle = memory.peak_mb("main")
    if profiler:
        for pid in stack.worker_pids():
            profiler.start(f"dispatch-worker-{pid}", pid, subprocesses=True)
    cpu = CpuAccount(
        {
            "workers": stack.worker_pids,
            "Postgres": postgres_pids,
            "sink": lambda: [stack.sink.pid],
            "Redis": lambda: [stack.redis_pid],
            "web": stack.web_pids,
        }
    )
    memory.start()
    cpu.start()
    patched = schedule(api, engagement)
    received = stack.sink.wait_for(len(items), timeout=timeout)
    cpu.stop()
    completed = wait_completed(stack, engagement, 120)
    memory.stop()
    summaries = profiler.stop() if profiler else []
    stats = stack.sink.stats(full=True, numbers=True, seconds=True)
    expected = {item.e164 for item in items}
    got = stats.pop("numbers")
    return {
        "engagement": engagement,
        "patched": patched,
        "received": received,
        "stats": stats,
        "seconds": stats["last"] - patched if stats["last"] else float("nan"),
        "first_latency": stats["first"] - patched if stats["first"] else float("nan"),
        "completed_after": completed - patched if completed else None,
        "missing": len(expected - set(got)),
        "unexpected": len(set(got) - expected),
        "duplicates": stats["duplicates"],
        "statuses": text_statuses(stack, engagement),
        "idle_mb": idle,
        "memory": memory,
        "cpu_us_per_text": cpu.per_item_us(len(items)),
        "profiles": summaries,
    }


def run(args: argparse.Namespace) -> Report:
    report = Report(
        f"Dispatch: {args.texts:,} texts, 2 campaign workers, sender throughput "
        f"10,000/s, Twilio API on a loopback sink"
    )
    latency_total = args.latency_runs * args.latency_texts
    items = recipients(args.texts + latency_total + args.naive, seed=args.seed)
    engine_items = items[: args.texts]
    latency_items = items[args.texts : args.texts + latency_total]
    naive_items = items[args.texts + latency_total :]
    settings = {"CAMPAIGN_BATCH_SIZE": str(args.batch_size)} if args.batch_size else {}
    with Stack(keep_logs=args.keep_logs, settings=settings) as stack:
        api = Api.for_new_account(stack)
        phone = api.phone_number(SENDER, 10_000)
        auth = (stack.sink.account_sid, stack.sink.auth_token)
        forms = twilio_forms(
            engine_items[: args.ceiling_requests], SENDER, TEMPLATE_BODY, stack.base_url
        )
        stack.sink.reset()
        raw_seconds, raw_ok = http_ceiling(stack.sink.messages_url, auth, forms, args.concurrency)
        provider_seconds, provider_ok = provider_ceiling(stack.sink.url, auth, forms)
        latencies = latency_runs(
            stack,
            api,
            phone,
            [
                latency_items[start : start + args.latency_texts]
                for start in range(0, latency_total, args.latency_texts)
            ],
        )
        profiler = Profiler(args.profile, wall=args.profile_wall) if args.profile else None
        engine = engine_run(stack, api, phone, engine_items, profiler, args.timeout)
        naive = (
            naive_dispatch(stack, naive_items, SENDER, TEMPLATE_BODY, timeout=args.timeout)
            if naive_items
            else None
        )

    raw_rate = len(forms) / raw_seconds
    engine_rate = args.texts / engine["seconds"]
    memory: PeakMemory = engine.pop("memory")
    ok = (
        engine["received"] == args.texts
        and engine["missing"] == 0
        and engine["duplicates"] == 0
        and engine["unexpected"] == 0
    )
    report.add("engine", "texts at the sink", engine["received"], "", f"= {args.texts:,}")
    report.add("engine", "every text exactly once", "yes" if ok else "NO", "", "yes")
    report.add(
        "engine", "texts/s (PATCH to last text at the sink)", engine_rate, "texts/s", ">= 2,000"
    )
    report.add("engine", "elapsed (PATCH to last text)", engine["seconds"], "s")
    if engine["completed_after"] is not None:
        report.add(
            "engine", "PATCH to engagement `completed` (seen)", engine["completed_after"], "s"
        )
    report.add("engine", "text statuses in Postgres", engine["statuses"], "")
    report.add(
        "latency",
        f"PATCH to first text, median of {len(latencies)} x {args.latency_texts}",
        statistics.median(latencies) * 1000,
        "ms",
        "<= 300",
    )
    report.add(
        "latency",
        "PATCH to first text, each run",
        ", ".join(f"{value * 1000:.0f}" for value in latencies),
        "ms",
    )
    report.add(
        "latency",
        f"PATCH to first text, the {args.texts:,}-text run",
        engine["first_latency"] * 1000,
        "ms",
    )
    report.add(
        "ceiling",
        f"raw asyncio POSTs, {args.concurrency} connections ({len(forms):,})",
        raw_rate,
        "req/s",
    )
    report.add(
        "ceiling",
        "the engine's TwilioProvider alone, 32 connections, 1 process, no database",
        len(forms) / provider_seconds,
        "req/s",
    )
    if naive is not None:
        naive_rate = naive["count"] / naive["seconds"]
        report.add(
            "naive",
            f"one forking RQ job per text, 2 rq workers ({len(naive_items):,})",
            naive_rate,
            "texts/s",
        )
        report.add("ratio", "engine / naive", ratio(engine_rate, naive_rate), "x", ">= 30")
    report.add("ratio", "engine / raw HTTP ceiling", ratio(engine_rate, raw_rate), "", ">= 0.60")
    for part, micros in engine["cpu_us_per_text"].items():
        report.add("cpu", f"{part}, CPU per text (PATCH to last text)", micros, "us")
    report.add(
        "memory", "worker peak RSS, largest worker process", memory.peak_mb("main"), "MiB", "< 150"
    )
    report.add(
        "memory",
        "worker peak RSS, largest child (work horse, scheduler)",
        memory.peak_mb("child"),
        "MiB",
        "< 150",
    )
    report.add("memory", "worker RSS before the run", engine["idle_mb"], "MiB")
    report.details.update(
        args=vars(args),
        engine={k: v for k, v in engine.items() if k != "profiles"},
        latencies=latencies,
        naive=naive,
        raw_ok=raw_ok,
        provider_ok=provider_ok,
        per_process_mb=memory.per_process_mb(),
        profiles=[str(path) for path in engine["profiles"]],
    )
    for path in engine["profiles"]:
        print(path.read_text())
    return report


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--texts", type=int, default=20_000, help="texts the engine sends")
    parser.add_argument(
        "--latency-runs", type=int, default=5, help="small runs for the PATCH-to-first-text latency"
    )
    parser.add_argument("--latency-texts", type=int, default=100, help="texts per latency run")
    parser.add_argument(
        "--naive",
        type=int,
        default=1_000,
        help="texts for the naive one-job-per-text baseline (0: skip)",
    )
    parser.add_argument(
        "--ceiling-requests",
        type=int,
        default=20_000,
        help="requests for the raw HTTP ceiling (at most --texts)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="connections of the raw HTTP ceiling"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=0,
        help="CAMPAIGN_BATCH_SIZE for the workers (default: the engine's)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="longest wait for a run's texts, in seconds"
    )


def main() -> None:
    bench_main("python -m bench.dispatch", __doc__, arguments, run)


if __name__ == "__main__":
    main()
