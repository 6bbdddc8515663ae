"""`campaign run` as a newcomer runs it, on the embedded defaults: it serves only once the API
answers, refuses a taken port or an incomplete carrier in one line, and a signal to it alone
(Ctrl-C or `kill`) stops every process it started, the embedded Redis included."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import psutil
import pytest

from campaign.embedded_redis import stop_embedded_redis
from tests.servers import CAMPAIGN, embedded_environment, free_port

SERVING = "campaign is serving"


@pytest.fixture
def instance() -> Iterator[Path]:
    """A short instance folder (the embedded Redis socket lives in it), emptied afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="cmp-run-"))
    try:
        yield folder
    finally:
        stop_embedded_redis(str(folder))  # whatever a failed test left
        shutil.rmtree(folder, ignore_errors=True)


def _start(instance: Path, port: int, **env: str) -> subprocess.Popen[str]:
    """`campaign run`, its stdout a pipe, its stderr (and its children's logs) in a file."""
    with open(instance / "stderr.log", "w") as stderr:
        return subprocess.Popen(
            [CAMPAIGN, "run"],
            env={**embedded_environment(str(instance), port), **env},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,  # a signal to the test's group never reaches it, and back
        )


def _stderr_lines(instance: Path) -> list[str]:
    return [line for line in (instance / "stderr.log").read_text().splitlines() if line.strip()]


def _wait_for_serving(process: subprocess.Popen[str], instance: Path, port: int) -> str:
    """The announcement line, read once it appears; the API must answer by then."""
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, f"campaign run ended before serving: {_stderr_lines(instance)}"
        if SERVING in line:
            response = httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=5)
            assert response.status_code == 200
            return line
    raise AssertionError("campaign run did not announce serving within 60 s")


def _kill_if_running(process: subprocess.Popen[str]) -> None:
    """What a failed test leaves: the run killed (its children stop with it)."""
    if process.poll() is None:
        process.kill()
        process.wait()


def _redis_process(instance: Path) -> psutil.Process:
    return psutil.Process(int((instance / "redis.pid").read_text()))


def _running(processes: list[psutil.Process]) -> list[int]:
    running = []
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            if process.status() != psutil.STATUS_ZOMBIE:
                running.append(process.pid)
    return running


@pytest.mark.parametrize(
    ("stop_signal", "whole_group"),
    [(signal.SIGINT, True), (signal.SIGINT, False), (signal.SIGTERM, False)],
    ids=["ctrl-c-in-a-terminal", "sigint", "kill"],
)
def test_a_signal_to_campaign_run_stops_every_process_it_started(
    instance: Path, stop_signal: signal.Signals, whole_group: bool
) -> None:
    """`kill PID` signals the parent alone; Ctrl-C in a terminal signals its whole foreground
    process group. Either way every process goes, promptly (no child takes a slow path)."""
    port = free_port()
    process = _start(instance, port)
    try:
        _wait_for_serving(process, instance, port)
        tree = [*psutil.Process(process.pid).children(recursive=True), _redis_process(instance)]
        assert len(tree) >= 4, tree  # gunicorn, its workers, the RQ worker, redis-server

        if whole_group:
            os.killpg(process.pid, stop_signal)
        else:
            process.send_signal(stop_signal)
        process.wait(timeout=15)
    finally:
        _kill_if_running(process)

    assert process.returncode == 0
    _, alive = psutil.wait_procs(tree, timeout=10)
    assert _running(alive) == []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # the port is free again


def test_campaign_run_on_a_taken_port_fails_in_one_line_and_leaves_nothing_running(
    instance: Path,
) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        process = _start(instance, port)
        stdout, _ = process.communicate(timeout=60)

    assert process.returncode == 1
    assert SERVING not in stdout
    assert _stderr_lines(instance) == [
        f"Error: port {port} is already in use (another `campaign run`?); "
        "choose another with --port or PORT"
    ]
    # The embedded Redis this run started went with it.
    assert not (instance / "redis.sock").exists()


def test_campaign_run_with_an_incomplete_carrier_fails_in_one_line(instance: Path) -> None:
    process = _start(instance, free_port(), SMS_PROVIDER="twilio", TWILIO_ACCOUNT_SID="AC1")
    stdout, _ = process.communicate(timeout=60)

    assert process.returncode == 1
    assert SERVING not in stdout
    assert _stderr_lines(instance) == [
        "Error: SMS_PROVIDER=twilio needs TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL"
    ]
    assert not (instance / "redis.sock").exists()


def test_a_child_that_dies_stops_the_run_with_one_line(instance: Path) -> None:
    port = free_port()
    process = _start(instance, port)
    try:
        _wait_for_serving(process, instance, port)
        [worker] = [
            child for child in psutil.Process(process.pid).children() if "worker" in child.cmdline()
        ]
        worker.kill()
        process.communicate(timeout=60)
    finally:
        _kill_if_running(process)

    assert process.returncode == 1
    assert (
        _stderr_lines(instance)[-1] == "Error: the worker was killed by SIGKILL; stopped the rest"
    )
    assert not (instance / "redis.sock").exists()


def test_the_children_of_a_killed_campaign_run_stop_too(instance: Path) -> None:
    """SIGKILL leaves the parent no chance to stop anything: the children are told by the
    kernel (PR_SET_PDEATHSIG) and stop on their own."""
    port = free_port()
    process = _start(instance, port)
    children: list[psutil.Process] = []
    try:
        _wait_for_serving(process, instance, port)
        children = psutil.Process(process.pid).children(recursive=True)
        process.kill()
        process.wait(timeout=10)
        _, alive = psutil.wait_procs(children, timeout=40)
        assert _running(alive) == []
    finally:
        for child in children:  # whatever a failure above left
            with suppress(psutil.NoSuchProcess):
                child.kill()
        _kill_if_running(process)
