"""Rate-limit benchmark: what the per-account limiter adds to a small API request.

    .venv/bin/python -m bench.limits [--requests 2000] [--rounds 5]

In one run, on one stack (gunicorn with 2 workers): two accounts, one with its limit `off` and
one limited (`1000000/hour`, never reached), take turns sending blocks of small requests
(`GET /api/v1/text-templates`, an empty page) from one keep-alive connection each, so the
machine's drift falls on both alike. Latency is per request, client side; the difference of the
medians is the limiter's one EVALSHA. Target: under 5 % of the small request's latency.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.api import Api
from bench.report import Report, bench_main
from bench.stack import Stack

PATH = "/api/v1/text-templates"


def timed(api: Api, count: int) -> list[float]:
    """Seconds of each of `count` small requests on one connection."""
    latencies = []
    with api.client() as client:
        client.get(PATH)  # the connection and the account's first lookup, untimed
        for _ in range(count):
            started = time.perf_counter()
            response = client.get(PATH)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"GET {PATH}: {response.status_code} {response.text[:300]}")
    return latencies


def run(args: argparse.Namespace) -> Report:
    report = Report(
        f"Rate limits: {args.rounds} x {args.requests:,} small requests per account, alternated, "
        "gunicorn with 2 workers"
    )
    samples: dict[str, list[float]] = {"off": [], "limited": []}
    with Stack(keep_logs=args.keep_logs, workers=0) as stack:
        accounts = {
            "off": Api.for_new_account(stack, "off"),
            "limited": Api.for_new_account(stack, "limited"),
        }
        stack.campaign("accounts", "update", "off", "--rate-limit", "off")
        stack.campaign("accounts", "update", "limited", "--rate-limit", "1000000/hour")
        for _ in range(args.rounds):
            for name, api in accounts.items():
                samples[name].extend(timed(api, args.requests))
    medians = {name: statistics.median(values) * 1000 for name, values in samples.items()}
    for name, values in samples.items():
        ordered = sorted(values)
        report.add(name, "median latency", medians[name], "ms")
        report.add(name, "p99 latency", ordered[int(len(ordered) * 0.99)] * 1000, "ms")
    added = medians["limited"] - medians["off"]
    report.add("limiter", "added to the median", added * 1000, "us")
    report.add("limiter", "share of the small request", added / medians["off"] * 100, "%", "< 5")
    report.details.update(args=vars(args))
    return report


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=2_000, help="requests per block")
    parser.add_argument("--rounds", type=int, default=5, help="blocks per account, alternated")


def main() -> None:
    bench_main("python -m bench.limits", __doc__, arguments, run)


if __name__ == "__main__":
    main()
