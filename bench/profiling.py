"""py-spy recordings of server processes during a benchmark, and a summary of where time goes.

`Profiler.start(name, pid)` runs `py-spy record --format raw` (collapsed stacks) on a process
(and, with `subprocesses`, the work horses it forks); `stop()` ends them and `summarise` turns a
recording into the functions with the largest inclusive and self share of the samples. By default
only the thread holding the GIL is sampled (`--gil`), so the shares are of time spent running
Python; `wall=True` samples every thread, idle or not (`--idle`), for a wall-clock breakdown of
a job's own thread (its callee split under `send_text_batch`).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

PY_SPY = str(Path(sys.executable).parent / "py-spy")


class Profiler:
    def __init__(self, directory: str, rate: int = 100, *, wall: bool = False) -> None:
        self.directory = Path(directory)
        self.wall = wall
        self.directory.mkdir(parents=True, exist_ok=True)
        self.rate = rate
        self.running: list[tuple[Path, subprocess.Popen[bytes]]] = []

    def start(self, name: str, pid: int, *, subprocesses: bool = False) -> Path:
        output = self.directory / f"{name}.txt"
        argv = [
            PY_SPY,
            "record",
            "--format",
            "raw",
            "--rate",
            str(self.rate),
            "--nolineno",
            "--idle" if self.wall else "--gil",
            "--output",
            str(output),
            "--pid",
            str(pid),
        ]
        if subprocesses:
            argv.append("--subprocesses")
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.running.append((output, process))
        return output

    def stop(self) -> list[Path]:
        """End every recording (SIGINT makes py-spy write its file) and summarise each."""
        outputs = []
        for output, process in self.running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            if output.exists():
                summary = output.with_suffix(".summary.txt")
                summary.write_text(summarise(output, rate=self.rate, wall=self.wall))
                outputs.append(summary)
        self.running = []
        return outputs


def _frames(stack: str) -> list[str]:
    # Drop py-spy's process/thread pseudo-frames; keep "function (file)".
    return [frame for frame in stack.split(";") if not frame.startswith(("process ", "thread "))]


_REPOSITORY = str(Path(__file__).resolve().parent.parent) + "/"


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", _REPOSITORY, "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


# Framework frames every sample passes through; left out of the inclusive list so it shows work.
_PLUMBING = (
    "gunicorn/",
    "flask/",
    "werkzeug/",
    "rq/",
    "threading.py",
    "concurrent/futures/",
    "click/",
    "<module>",
    "runpy.py",
)
# Functions whose direct callees are broken down: the request and job entry points.
FOCUS = (
    "EnvelopeList.post",
    "create_envelopes",
    "dispatch_engagement",
    "send_text_batch",
    "_send_round",
    "_claim",
    "_render",
    "_outcome",
    "record_outcomes",
    "TwilioProvider.send",
    "_worker",
    "perform_job",
)


def _load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [_short(frame) for frame in _frames(stack)]
        if frames:
            stacks.append((frames, int(count_text)))
    return stacks


def _callees(stacks: list[tuple[list[str], int]], focus: str) -> tuple[int, Counter[str]]:
    """Samples inside `focus` (a function name) and how they split among its direct callees."""
    inside = 0
    split: Counter[str] = Counter()
    for frames, count in stacks:
        positions = [i for i, frame in enumerate(frames) if frame.split(" (")[0] == focus]
        if not positions:
            continue
        inside += count
        at = positions[-1]
        split[frames[at + 1] if at + 1 < len(frames) else "(self)"] += count
    return inside, split


def summarise(path: Path, top: int = 30, rate: int = 100, *, wall: bool = False) -> str:
    """Top functions by inclusive and self share, and the callee split of the entry points."""
    stacks = _load(path)
    total = sum(count for _, count in stacks)
    if not total:
        return f"{path.name}: no samples\n"
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in stacks:
        own[frames[-1]] += count
        for frame in set(frames):
            if not any(marker in frame for marker in _PLUMBING):
                inclusive[frame] += count
    lines = [
        (
            f"{path.name}: {total} samples of every thread, idle ones included (wall clock; "
            "shares are % of all samples)"
        )
        if wall
        else (
            f"{path.name}: {total} samples holding the GIL, ~{total / rate:.1f} s of Python "
            "(shares are % of all samples)"
        ),
        "",
        "inclusive %  function",
    ]
    lines += [f"{100 * n / total:10.1f}  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self %  function"]
    lines += [f"{100 * n / total:6.1f}  {frame}" for frame, n in own.most_common(top)]
    for focus in FOCUS:
        inside, split = _callees(stacks, focus)
        if inside < total * 0.01:
            continue
        lines += [
            "",
            f"inside {focus}: {100 * inside / total:.1f}% of samples (~{inside / rate:.1f} s); "
            "its time split by callee, % of its own samples",
        ]
        lines += [f"{100 * n / inside:6.1f}  {frame}" for frame, n in split.most_common(12)]
    return "\n".join(lines) + "\n"
