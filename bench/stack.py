"""The stack a benchmark runs against, all on loopback and all torn down afterwards.

A private `redis-server` on a free port, a fresh Postgres database `bench_<random>` (migrated
with `campaign db upgrade`, dropped at the end), the fast Twilio sink in its own process,
gunicorn with two workers and two `campaign worker` processes. Every child runs in its own
process group, so teardown (also on Ctrl-C or an error) reaches the processes they fork.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psutil
import psycopg
import redis
from rq import Worker

from bench.sink import FastSink

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1/postgres")
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll `condition` until it holds; RuntimeError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop_group(process: subprocess.Popen[bytes], *, grace: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Children (work horses, gunicorn workers) can outlive a parent that died first.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def raise_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so the teardown in `finally` blocks runs."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


class Stack:
    """Everything one benchmark needs; use as a context manager.

    `web`/`workers` choose what to start; `settings` adds environment variables for the
    campaign processes (e.g. CAMPAIGN_BATCH_SIZE).
    """

    def __init__(
        self,
        *,
        web: bool = True,
        workers: int = 2,
        web_workers: int = 2,
        settings: dict[str, str] | None = None,
        keep_logs: bool = False,
    ) -> None:
        self.web, self.worker_count, self.web_workers = web, workers, web_workers
        self.settings = settings or {}
        self.keep_logs = keep_logs
        self.workdir = Path(tempfile.mkdtemp(prefix="campaign-bench-"))
        self.database = f"bench_{secrets.token_hex(6)}"
        self.database_url = ""
        self.redis_url = ""
        self.redis_pid = 0
        self.base_url = ""
        self.sink = FastSink()
        self.env: dict[str, str] = {}
        self.gunicorn: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._exit = ExitStack()

    # lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._exit.close()

    def _start(self) -> None:
        self._exit.callback(self._remove_workdir)
        self._start_redis()
        self._create_database()
        self.sink.start()
        self._exit.callback(self.sink.stop)
        web_port = free_port()
        self.base_url = f"http://127.0.0.1:{web_port}"
        self.env = {
            **{key: value for key, value in os.environ.items() if not key.startswith("TEST_")},
            "CAMPAIGN_ENV": "production",
            "SECRET_KEY": secrets.token_hex(24),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "CAMPAIGN_INSTANCE_PATH": str(self.workdir / "instance"),
            "SMS_PROVIDER": "twilio",
            "TWILIO_ACCOUNT_SID": self.sink.account_sid,
            "TWILIO_AUTH_TOKEN": self.sink.auth_token,
            "TWILIO_API_BASE": self.sink.url,
            "PUBLIC_BASE_URL": self.base_url,
            **self.settings,
        }
        self.campaign("db", "upgrade")
        if self.web:
            self._start_gunicorn(web_port)
        for index in range(self.worker_count):
            self.workers.append(self.spawn([str(BIN / "campaign"), "worker"], f"worker-{index}"))
        if self.worker_count:
            connection = redis.Redis.from_url(self.redis_url)
            wait_for(
                lambda: Worker.count(connection=connection) >= self.worker_count,
                START_TIMEOUT,
                "the campaign workers to register",
            )

    def _start_redis(self) -> None:
        port = free_port()
        process = self.spawn(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            "redis",
        )
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        self.redis_pid = process.pid
        connection = redis.Redis.from_url(self.redis_url)

        def up() -> bool:
            try:
                return bool(connection.ping())
            except redis.ConnectionError:
                return process.poll() is not None and _raise("redis-server exited")

        wait_for(up, START_TIMEOUT, "redis-server")

    def _create_database(self) -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        self._exit.callback(self._drop_database)
        base = ADMIN_URL.rsplit("/", 1)[0]
        self.database_url = f"{base}/{self.database}"

    def _drop_database(self) -> None:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def _start_gunicorn(self, port: int) -> None:
        # As the Procfile runs it (its settings module), with a generous timeout so a slow bulk
        # request is measured rather than killed.
        self.gunicorn = self.spawn(
            [
                str(BIN / "gunicorn"),
                "--config",
                "python:campaign.web_server",
                "campaign:create_app()",
                "--workers",
                str(self.web_workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "300",
            ],
            "gunicorn",
        )
        gunicorn = self.gunicorn

        def up() -> bool:
            if gunicorn.poll() is not None:
                _raise(f"gunicorn exited; see {self.workdir / 'gunicorn.log'}")
            try:
                httpx.get(f"{self.base_url}/api/openapi.json", timeout=2)
            except httpx.TransportError:
                return False
            return len(self.web_pids()) >= self.web_workers

        wait_for(up, START_TIMEOUT, "gunicorn", interval=0.2)

    def _remove_workdir(self) -> None:
        if self.keep_logs:
            print(f"logs kept in {self.workdir}", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # processes ---------------------------------------------------------------------------------
    def spawn(
        self, argv: list[str], name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in its own process group, logging to `<workdir>/<name>.log`, stopped
        when the stack closes."""
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed on teardown
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env or self.env or None,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._exit.callback(log.close)
        self._exit.callback(stop_group, process)
        return process

    def campaign(self, *args: str) -> str:
        """Run a `campaign` command to completion; its stdout."""
        result = subprocess.run(
            [str(BIN / "campaign"), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"campaign {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def web_pids(self) -> list[int]:
        """gunicorn's worker processes (not the arbiter)."""
        if self.gunicorn is None:
            return []
        try:
            return [child.pid for child in psutil.Process(self.gunicorn.pid).children()]
        except psutil.Error:
            return []

    def worker_pids(self) -> list[int]:
        return [worker.pid for worker in self.workers if worker.poll() is None]

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def database_connection(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.database_url, autocommit=True)


def _raise(message: str) -> bool:
    raise RuntimeError(message)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Run a benchmark so that SIGTERM and Ctrl-C both unwind through the teardown."""
    raise_on_sigterm()
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted; the stack was torn down", file=sys.stderr)
        raise SystemExit(130) from None
