"""Peak resident memory of process trees, sampled in a background thread.

Each sample reads every process in the trees (a campaign worker and the work horses it forks per
job, or gunicorn's workers) and keeps, per pid, the largest of its RSS and its kernel high-water
mark (VmHWM), so a short-lived work horse's peak is caught even between samples.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

MB = 1024 * 1024


def _high_water_mark(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


@dataclass
class PeakMemory:
    """Peak bytes per pid of the processes `roots()` returns (and their descendants)."""

    roots: Callable[[], list[int]]
    interval: float = 0.1
    peaks: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        for root in self.roots():
            try:
                process = psutil.Process(root)
                tree = [process, *process.children(recursive=True)]
            except psutil.Error:
                continue
            for member in tree:
                try:
                    rss = member.memory_info().rss
                    if member.pid not in self.names:
                        self.names[member.pid] = "child" if member.pid != root else "main"
                except psutil.Error:
                    continue
                peak = max(rss, _high_water_mark(member.pid))
                self.peaks[member.pid] = max(self.peaks.get(member.pid, 0), peak)

    def start(self) -> PeakMemory:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> PeakMemory:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sample()
        return self

    def peak_mb(self, kind: str | None = None) -> float:
        """Largest peak of one process of `kind` ("main"; "child": a work horse or RQ's
        scheduler), in MiB."""
        values = [
            peak for pid, peak in self.peaks.items() if kind is None or self.names.get(pid) == kind
        ]
        return round(max(values, default=0) / MB, 1)

    def per_process_mb(self) -> dict[str, float]:
        return {
            f"{self.names.get(pid, '?')}-{pid}": round(peak / MB, 1)
            for pid, peak in sorted(self.peaks.items())
        }
