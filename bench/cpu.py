"""Where the machine's CPU went during a measured window, per part of the stack.

`CpuAccount(parts)` reads, at `start()` and `stop()`, the user + system CPU of each part's
processes, their descendants and the children they have already reaped (a worker's finished work
horses, Postgres's ended backends), so short-lived processes are counted too. Dividing by the
messages of the window gives the CPU each one cost, which shows what bounds a rate on a machine
whose cores every part shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import psutil


def postgres_pids() -> list[int]:
    """The postmaster(s) on this machine: every backend is one of their children."""
    found = []
    for process in psutil.process_iter(["name", "ppid"]):
        try:
            if process.info["name"] == "postgres" and psutil.Process(
                process.info["ppid"]
            ).name() not in ("postgres",):
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def _cpu_seconds(roots: list[int], *, tree: bool) -> float:
    total = 0.0
    for root in roots:
        try:
            process = psutil.Process(root)
            members = [process, *process.children(recursive=True)] if tree else [process]
        except psutil.Error:
            continue
        for member in members:
            try:
                times = member.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
            if tree:
                total += times.children_user + times.children_system
    return total


@dataclass
class CpuAccount:
    """CPU seconds per named part between `start()` and `stop()`, and the machine's total.

    Parts named in `alone` count their own processes only: the benchmark itself, whose
    descendants are the whole stack."""

    parts: dict[str, Callable[[], list[int]]]
    alone: frozenset[str] = frozenset()
    seconds: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0
    _before: dict[str, float] = field(default_factory=dict)
    _machine_before: float = 0.0

    def start(self) -> CpuAccount:
        self._before = {name: self._read(name) for name in self.parts}
        machine = psutil.cpu_times()
        self._machine_before = machine.user + machine.system
        return self

    def stop(self) -> CpuAccount:
        self.seconds = {name: self._read(name) - self._before[name] for name in self.parts}
        machine = psutil.cpu_times()
        self.machine = machine.user + machine.system - self._machine_before
        return self

    def _read(self, name: str) -> float:
        return _cpu_seconds(self.parts[name](), tree=name not in self.alone)

    def per_item_us(self, items: int) -> dict[str, float]:
        """Microseconds of CPU per item, per part, plus `machine` (everything that ran)."""
        out = {name: 1e6 * value / items for name, value in self.seconds.items()}
        out["machine"] = 1e6 * self.machine / items
        return out
