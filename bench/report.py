"""Results as a printed table and, on request, a JSON file."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.stack import interruptible

PACKAGES = (
    "flask",
    "sqlalchemy",
    "psycopg",
    "marshmallow-jsonapi",
    "phonenumbers",
    "rq",
    "redis",
    "gunicorn",
    "httpx",
    "orjson",
)


@dataclass
class Report:
    """Rows of (group, metric, value, unit, target) plus free-form details for the JSON."""

    title: str
    rows: list[tuple[str, str, Any, str, str]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.details["load_average_at_start"] = [round(value, 2) for value in os.getloadavg()]

    def add(self, group: str, metric: str, value: Any, unit: str = "", target: str = "") -> None:
        self.rows.append((group, metric, value, unit, target))

    def print(self) -> None:
        header = ("", "metric", "value", "unit", "target")
        cells = [header, *[(g, m, _fmt(v), u, t) for g, m, v, u, t in self.rows]]
        widths = [max(len(str(row[i])) for row in cells) for i in range(5)]
        print(f"\n{self.title}")
        print("  ".join("-" * w for w in widths))
        for index, row in enumerate(cells):
            aligned = [
                str(c).ljust(w) if i != 2 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ]
            print("  ".join(aligned).rstrip())
            if index == 0:
                print("  ".join("-" * w for w in widths))

    def write_json(self, path: str | None) -> None:
        if not path:
            return
        document = {
            "title": self.title,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "results": [
                {"group": g, "metric": m, "value": v, "unit": u, "target": t}
                for g, m, v, u, t in self.rows
            ],
            "details": self.details,
        }
        Path(path).write_text(json.dumps(document, indent=2, default=str) + "\n")
        print(f"wrote {path}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine() -> dict[str, Any]:
    """Cores, memory and versions, as BENCHMARKS.md lists them."""

    def run(*argv: str) -> str:
        try:
            return subprocess.run(
                argv, capture_output=True, text=True, timeout=10, check=False
            ).stdout.strip()
        except OSError:
            return ""

    memory = run("free", "-m").splitlines()
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cores": run("nproc"),
        "memory_mib": memory[1].split()[1] if len(memory) > 1 else "",
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        ),
        # Other work on the machine shares the two cores: read the numbers beside this (taken
        # when the run ends; the start's is in details).
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "postgres": run("psql", "--version"),
        "redis": run("redis-server", "--version"),
        "packages": versions,
    }


def bench_main(
    prog: str,
    description: str | None,
    own_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], Report],
) -> None:
    """A benchmark's command line: its own options, then the ones every benchmark takes; run it
    (Ctrl-C and SIGTERM still tear the stack down), print the table, write the JSON."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    own_arguments(parser)
    common_arguments(parser)
    args = parser.parse_args()
    with interruptible():
        report = run(args)
    report.print()
    report.write_json(args.json)


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=4, help="seed of the generated recipients")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the stack's logs (gunicorn, workers, redis) after the run",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="record py-spy profiles of the server processes into DIR "
        "(slows them: the numbers of a profiled run are not benchmarks)",
    )
    parser.add_argument(
        "--profile-wall",
        action="store_true",
        help="with --profile: sample every thread, idle ones included (wall clock), not GIL time",
    )


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 2) if denominator else float("nan")
