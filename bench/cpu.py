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


def _cpu_seconds(roots: list[int]) -> float:
    total = 0.0
    for root in roots:
        try:
            process = psutil.Process(root)
            tree = [process, *process.children(recursive=True)]
        except psutil.Error:
            continue
        for member in tree:
            try:
                times = member.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system + times.children_user + times.children_system
    return total


@dataclass
class CpuAccount:
    """CPU seconds per named part between `start()` and `stop()`, and the machine's total."""

    parts: dict[str, Callable[[], list[int]]]
    seconds: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0
    _before: dict[str, float] = field(default_factory=dict)
    _machine_before: float = 0.0

    def start(self) -> CpuAccount:
        self._before = {name: _cpu_seconds(roots()) for name, roots in self.parts.items()}
        machine = psutil.cpu_times()
        self._machine_before = machine.user + machine.system
        return self

    def stop(self) -> CpuAccount:
        # The same roots as at the start: a process that exited meanwhile is in its parent's
        # reaped-children times only if its parent is one of the roots' tree.
        self.seconds = {
            name: _cpu_seconds(roots()) - self._before[name] for name, roots in self.parts.items()
        }
        machine = psutil.cpu_times()
        self.machine = machine.user + machine.system - self._machine_before
        return self

    def per_item_us(self, items: int) -> dict[str, float]:
        """Microseconds of CPU per item, per part, plus `machine` (everything that ran)."""
        out = {name: 1e6 * value / items for name, value in self.seconds.items()}
        out["machine"] = 1e6 * self.machine / items
        return out
