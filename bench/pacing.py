"""Pacing benchmark: a sender capped at 50 messages/s sends 1,000 texts with 2 workers.

    .venv/bin/python -m bench.pacing [--texts 1000] [--throughput 50] [--json PATH]

Reports the time from the PATCH to the last text at the sink (target 1,000 / 50 = 20 s +- 5%),
the spread from the first to the last text, the busiest second at the sink (seconds counted
from the first text, and any sliding one-second window) and that every text came exactly once.
"""

from __future__ import annotations

import argparse

from bench.api import Api
from bench.dispatch import SENDER, prepare, schedule, wait_completed
from bench.recipients import recipients
from bench.report import Report, bench_main
from bench.stack import Stack


def run(args: argparse.Namespace) -> Report:
    report = Report(
        f"Pacing: {args.texts:,} texts from a sender capped at {args.throughput}/s, "
        "2 campaign workers"
    )
    items = recipients(args.texts, seed=args.seed)
    ideal = args.texts / args.throughput
    with Stack(keep_logs=args.keep_logs) as stack:
        api = Api.for_new_account(stack)
        phone = api.phone_number(SENDER, args.throughput)
        engagement = prepare(api, phone, items, "pacing")
        stack.sink.reset()
        patched = schedule(api, engagement)
        received = stack.sink.wait_for(args.texts, timeout=ideal * 3 + 60)
        wait_completed(stack, engagement, 60)
        stats = stack.sink.stats(full=True, numbers=True, seconds=True)
    got = stats.pop("numbers")
    exactly_once = (
        received == args.texts
        and stats["duplicates"] == 0
        and set(got) == {item.e164 for item in items}
    )
    duration = stats["last"] - patched
    low, high = ideal * 0.95, ideal * 1.05
    report.add("engine", "texts at the sink", received, "", f"= {args.texts:,}")
    report.add("engine", "every text exactly once", "yes" if exactly_once else "NO", "", "yes")
    report.add("engine", "PATCH to last text", duration, "s", f"{low:.1f} - {high:.1f}")
    report.add(
        "engine",
        "first to last text",
        stats["last"] - stats["first"],
        "s",
        f"ideal {(args.texts - 1) / args.throughput:.2f}",
    )
    report.add("engine", "PATCH to first text", (stats["first"] - patched) * 1000, "ms")
    report.add(
        "engine",
        "achieved rate (texts / PATCH to last)",
        args.texts / duration,
        "texts/s",
        f"{args.throughput}",
    )
    report.add(
        "engine",
        "busiest second (from the first text)",
        stats["max_per_second"],
        "texts",
        f"<= {args.throughput}",
    )
    report.add(
        "engine",
        "busiest sliding one-second window",
        stats["max_sliding_second"],
        "texts",
        f"<= {args.throughput} (+1 at the edges)",
    )
    report.add(
        "engine",
        f"within {ideal:.0f} s +- 5%",
        "yes" if low <= duration <= high else "NO",
        "",
        "yes",
    )
    report.add(
        "engine",
        "texts in each second from the first",
        " ".join(str(count) for count in stats["per_second"]),
        "texts",
    )
    report.details.update(args=vars(args), stats=stats)
    return report


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--texts", type=int, default=1_000, help="texts to send")
    parser.add_argument("--throughput", type=int, default=50, help="the sender's messages/s")


def main() -> None:
    bench_main("python -m bench.pacing", __doc__, arguments, run)


if __name__ == "__main__":
    main()
