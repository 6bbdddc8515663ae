"""Compliance benchmark: what the send round's opt-out and quiet-hours checks cost dispatch.

    .venv/bin/python -m bench.compliance [--texts 20000] [--opt-outs 100000] [--rounds 2]

In one run, on one stack, alternating: the plain engagement (an account with no opt-outs, no
queue schedule) and the same engagement in an account with 100,000 opt-outs on file (none of
them a recipient, so the same texts go) and quiet hours on in each recipient's own zone, with
a window open all day (00:00-23:59, every day): every claimed text is probed against the
opt-out index, its number's zones looked up and the window evaluated. texts/s from the PATCH to
the last text at the sink, as in bench.dispatch; the ratio is the cost (target >= 0.90).
A recipient whose local time is 23:59 waits a minute: run it at another minute.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import httpx

from bench.api import Api
from bench.dispatch import engine_run
from bench.recipients import Recipient, recipients
from bench.report import Report, bench_main, ratio
from bench.stack import Stack

PLAIN_SENDER, COMPLIANT_SENDER = "+15195550100", "+15195550101"
ALL_DAY = {"timezone": "recipient", "start": "00:00", "end": "23:59"}
JSONAPI = "application/vnd.api+json"
BULK = {"Content-Type": f'{JSONAPI}; ext="bulk"'}
IMPORT_CHUNK = 10_000  # CAMPAIGN_MAX_BULK's default


def import_opt_outs(api: Api, numbers: list[Recipient]) -> None:
    """The account's suppression list, as an operator imports one (ext=bulk, 10,000 a request)."""
    with api.client() as client:
        for start in range(0, len(numbers), IMPORT_CHUNK):
            document = {
                "data": [
                    {"type": "opt-outs", "attributes": {"phone-number": item.e164}}
                    for item in numbers[start : start + IMPORT_CHUNK]
                ]
            }
            response = client.post("/api/v1/opt-outs", json=document, headers=BULK)
            if response.status_code != 201:
                raise RuntimeError(f"opt-out import: {response.status_code} {response.text[:500]}")


def quiet_hours(api: Api, engagement_id: str) -> None:
    """Quiet hours on, in each recipient's own zone, open all day."""
    document = {
        "data": {
            "type": "engagements",
            "id": engagement_id,
            "attributes": {"queue-schedule-is-enabled": True, "queue-schedule": ALL_DAY},
        }
    }
    with api.client() as client:
        response: httpx.Response = client.patch(
            f"/api/v1/engagements/{engagement_id}", json=document
        )
    if response.status_code != 200:
        raise RuntimeError(f"queue schedule: {response.status_code} {response.text[:500]}")


def run(args: argparse.Namespace) -> Report:
    report = Report(
        f"Compliance checks: {args.texts:,} texts, 2 campaign workers, sender throughput "
        f"10,000/s; {args.opt_outs:,} opt-outs on file and recipient-zone quiet hours"
    )
    everyone = recipients(args.texts + args.opt_outs, seed=args.seed)
    items, suppressed = everyone[: args.texts], everyone[args.texts :]
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "checked": []}
    with Stack(keep_logs=args.keep_logs) as stack:
        plain = Api.for_new_account(stack, "plain")
        checked = Api.for_new_account(stack, "checked")
        plain_phone = plain.phone_number(PLAIN_SENDER, 10_000)
        checked_phone = checked.phone_number(COMPLIANT_SENDER, 10_000)
        import_opt_outs(checked, suppressed)
        for _ in range(args.rounds):
            runs["plain"].append(engine_run(stack, plain, plain_phone, items, None, args.timeout))
            runs["checked"].append(
                engine_run(
                    stack,
                    checked,
                    checked_phone,
                    items,
                    None,
                    args.timeout,
                    configure=lambda engagement: quiet_hours(checked, engagement),
                )
            )
    rates = {
        name: [args.texts / result["seconds"] for result in results]
        for name, results in runs.items()
    }
    for name, results in runs.items():
        exact = all(
            r["received"] == args.texts and r["missing"] == 0 and r["duplicates"] == 0
            for r in results
        )
        report.add(name, "every text exactly once, every run", "yes" if exact else "NO", "", "yes")
        report.add(
            name,
            "texts/s (PATCH to last text), each run",
            ", ".join(f"{rate:,.0f}" for rate in rates[name]),
            "texts/s",
        )
        report.add(name, "texts/s, median", statistics.median(rates[name]), "texts/s")
        workers = [r["cpu_us_per_text"]["workers"] for r in results]
        report.add(
            name,
            "workers' CPU per text, each run",
            ", ".join(f"{value:.0f}" for value in workers),
            "us",
        )
    report.add(
        "ratio",
        "with checks / plain (medians)",
        ratio(statistics.median(rates["checked"]), statistics.median(rates["plain"])),
        "",
        ">= 0.90",
    )
    report.details.update(
        args=vars(args),
        runs={
            name: [{k: v for k, v in r.items() if k not in ("profiles", "memory")} for r in results]
            for name, results in runs.items()
        },
    )
    return report


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--texts", type=int, default=20_000, help="texts each run sends")
    parser.add_argument("--opt-outs", type=int, default=100_000, help="opt-outs on file")
    parser.add_argument("--rounds", type=int, default=2, help="plain/checked pairs, alternated")
    parser.add_argument(
        "--timeout", type=float, default=900, help="longest wait for a run's texts, in seconds"
    )


def main() -> None:
    bench_main("python -m bench.compliance", __doc__, arguments, run)


if __name__ == "__main__":
    main()
