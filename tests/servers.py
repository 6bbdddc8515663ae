"""Real processes and servers for end-to-end tests: the app over HTTP on loopback, settings
changed for one test, and `campaign worker` subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

CAMPAIGN = str(Path(sys.executable).parent / "campaign")


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
    """A real `campaign worker` in its own process group (so a kill reaches its work horse)."""

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
        """SIGKILL the worker and its work horse at once: a crash, not a shutdown."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

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
