"""Real processes and servers for end-to-end tests: the app over HTTP on loopback, settings
changed for one test, and `campaign worker` subprocesses."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from flask import Flask
from werkzeug.serving import make_server

CAMPAIGN = str(Path(sys.executable).parent / "campaign")
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve `app` on an ephemeral loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="app-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def free_port() -> int:
    """A loopback port nothing listens on (as of now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def embedded_environment(instance: str, port: int) -> dict[str, str]:
    """The environment of a newcomer's `campaign run`: the embedded defaults (no DATABASE_URL,
    REDIS_URL or carrier), its own instance folder, and PORT."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "SMS_PROVIDER", "CAMPAIGN_ENV"}
    }
    env.update(CAMPAIGN_INSTANCE_PATH=instance, PORT=str(port))
    return env


@contextmanager
def configured(app: Flask, **values: Any) -> Iterator[None]:
    """Change app settings for the duration of a test, then put them back."""
    saved = {key: app.config.get(key) for key in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(saved)


def settings_environment(environment: dict[str, str], **values: Any) -> dict[str, str]:
    """The process environment for a `campaign` subprocess: the test app's plus `values`."""
    env = dict(os.environ)
    env.update(environment)
    env.update({key: str(value) for key, value in values.items()})
    return env


class WorkerProcess:
    """A real `campaign worker` in its own session, so signals to it reach no test process."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [CAMPAIGN, "worker"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the worker and every descendant at once: a crash, not a shutdown. RQ's work
        horse calls setpgrp(), so killing the worker's group would leave it sending; the worker
        is frozen first so it cannot fork another horse between the listing and the kill."""
        tree: list[psutil.Process] = []
        with suppress(psutil.NoSuchProcess):
            worker = psutil.Process(self.process.pid)
            worker.suspend()
            tree = [*worker.children(recursive=True), worker]
            for process in tree:
                with suppress(psutil.NoSuchProcess):
                    process.kill()
        self.process.wait(timeout=10)
        self._log.close()
        # An orphaned horse is reaped by whoever adopts it; dead (or a zombie) is what counts.
        _, alive = psutil.wait_procs(tree, timeout=10)
        running = [p.pid for p in alive if _status(p) not in ("gone", psutil.STATUS_ZOMBIE)]
        assert not running, f"processes of the killed worker still running: {running}"

    def stop(self) -> int:
        """SIGTERM, as Heroku sends, and wait for a graceful exit."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _status(process: psutil.Process) -> str:
    try:
        return process.status()
    except psutil.NoSuchProcess:
        return "gone"


@dataclass(frozen=True)
class WebProcess:
    """The web process as the Procfile runs it: its master's pid, where it listens, its log."""

    pid: int
    base_url: str
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _procfile_web_command() -> list[str]:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == "web":
            return shlex.split(command)
    raise AssertionError("the Procfile has no web process")


@contextmanager
def web_process(environment: dict[str, str], log_path: Path, **values: Any) -> Iterator[WebProcess]:
    """The Procfile's web command on a free loopback port, with the test app's database and
    Redis and `values` over them, until the block ends; waits until it answers."""
    port = free_port()
    env = settings_environment(
        environment,
        PORT=port,
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **values,
    )
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*_procfile_web_command(), "--bind", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(base_url, process, log_path)
        yield WebProcess(process.pid, base_url, port, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_until_answering(
    base_url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log_path.read_text()
        try:
            httpx.get(f"{base_url}/api/openapi.json", timeout=2)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the web process did not start"
            time.sleep(0.2)
