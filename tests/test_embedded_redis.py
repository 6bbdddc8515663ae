"""The embedded Redis of the quick start: one server per instance folder, found again by every
process that asks for it, with its socket in /tmp when the folder's path is too long."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from campaign.embedded_redis import ensure_embedded_redis, socket_path, stop_embedded_redis

# Run by other processes: ask for the server of a folder, then report what they found.
PROBE = """
import json, sys
import redis
from campaign.embedded_redis import ensure_embedded_redis

url = ensure_embedded_redis(sys.argv[1])
client = redis.Redis.from_url(url)
value = client.get("greeting")
print(json.dumps({
    "url": url,
    "pid": client.info("server")["process_id"],
    "greeting": value.decode() if value is not None else None,
}))
"""
# sun_path is 108 bytes; the module keeps its socket paths within this.
SOCKET_PATH_LIMIT = 100


@pytest.fixture
def instance_folder() -> Iterator[str]:
    """A short folder, so the socket fits in it; its server is stopped afterwards."""
    path = tempfile.mkdtemp(prefix="cmp-er-")
    yield path
    stop_embedded_redis(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def long_instance_folder(tmp_path: Path) -> Iterator[str]:
    """A folder whose socket path would not fit in sun_path (not created yet)."""
    path = str(tmp_path / ("instance-" + "x" * 110))
    yield path
    stop_embedded_redis(path)
    Path(socket_path(path)).unlink(missing_ok=True)


def client(url: str, **options: object) -> redis.Redis:
    # Without retries, a refused connection fails at once instead of after seconds of backoff.
    return redis.Redis.from_url(url, socket_timeout=1, retry=Retry(NoBackoff(), 0), **options)


def server_pid(url: str) -> int:
    return int(client(url).info("server")["process_id"])


def probe(folder: str) -> dict[str, object]:
    """What a separate process finds when it asks for the folder's server."""
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, folder],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def wait_until_down(url: str) -> None:
    """Wait (bounded) until the server no longer answers; killing it is not instantaneous."""
    deadline = time.monotonic() + 30
    connection = client(url)
    while time.monotonic() < deadline:
        try:
            connection.ping()
        except redis.ConnectionError:
            return
        time.sleep(0.05)
    raise AssertionError(f"{url} still answers")


def test_server_socket_lives_in_the_instance_folder(instance_folder: str) -> None:
    url = ensure_embedded_redis(instance_folder)

    sock = os.path.join(instance_folder, "redis.sock")
    assert url == f"unix://{sock}"
    assert os.path.exists(sock)
    assert client(url).ping()


def test_second_call_returns_the_same_server_and_data(instance_folder: str) -> None:
    url = ensure_embedded_redis(instance_folder)
    client(url).set("greeting", "hello")

    again = ensure_embedded_redis(instance_folder)

    assert again == url
    assert server_pid(again) == server_pid(url)
    assert client(again).get("greeting") == b"hello"


def test_another_process_finds_the_running_server_and_its_data(instance_folder: str) -> None:
    url = ensure_embedded_redis(instance_folder)
    client(url).set("greeting", "hello")

    found = probe(instance_folder)

    assert found == {"url": url, "pid": server_pid(url), "greeting": "hello"}


def test_processes_starting_at_once_share_one_server(instance_folder: str) -> None:
    # The file lock must let exactly one of them start the server.
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE, instance_folder], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    reports = []
    for process in processes:
        stdout, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        reports.append(json.loads(stdout.strip().splitlines()[-1]))

    assert len({(report["url"], report["pid"]) for report in reports}) == 1
    assert reports[0]["url"] == ensure_embedded_redis(instance_folder)


def test_long_instance_path_puts_the_socket_in_tmp(long_instance_folder: str) -> None:
    assert len(os.path.join(long_instance_folder, "redis.sock")) > SOCKET_PATH_LIMIT

    url = ensure_embedded_redis(long_instance_folder)

    sock = url.removeprefix("unix://")
    assert os.path.dirname(sock) == tempfile.gettempdir()
    assert len(sock) <= SOCKET_PATH_LIMIT
    assert client(url).ping()
    # The folder is still the server's home: it was created and holds the pid file.
    assert os.path.exists(os.path.join(long_instance_folder, "redis.pid"))
    assert probe(long_instance_folder)["url"] == url


def test_long_path_sockets_are_stable_per_folder_and_distinct_between_folders(
    tmp_path: Path,
) -> None:
    first, second = str(tmp_path / ("a" * 120)), str(tmp_path / ("b" * 120))

    assert socket_path(first) == socket_path(first)
    assert socket_path(first) != socket_path(second)


def test_stop_shuts_the_server_down(instance_folder: str) -> None:
    url = ensure_embedded_redis(instance_folder)

    stop_embedded_redis(instance_folder)

    with pytest.raises(redis.ConnectionError):
        client(url).ping()
    # Stopping a folder whose server is not running is harmless.
    stop_embedded_redis(instance_folder)


def test_a_stopped_server_is_started_again_on_the_next_call(instance_folder: str) -> None:
    url = ensure_embedded_redis(instance_folder)
    stop_embedded_redis(instance_folder)

    again = ensure_embedded_redis(instance_folder)

    assert again == url
    assert client(again).ping()


def test_a_crashed_server_leaving_a_stale_socket_is_replaced(instance_folder: str) -> None:
    url = ensure_embedded_redis(instance_folder)
    crashed = server_pid(url)
    os.kill(crashed, signal.SIGKILL)
    wait_until_down(url)
    assert os.path.exists(url.removeprefix("unix://"))  # the socket file outlives the server

    again = ensure_embedded_redis(instance_folder)

    assert again == url
    assert server_pid(again) != crashed


def test_embedded_server_keeps_nothing_on_disk(instance_folder: str) -> None:
    connection = client(ensure_embedded_redis(instance_folder), decode_responses=True)

    # Postgres is the truth; Redis only wakes workers.
    assert connection.config_get("save")["save"] == ""
    assert connection.config_get("appendonly")["appendonly"] == "no"
