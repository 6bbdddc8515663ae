"""The web process as the Procfile runs it, against slow and idle clients on loopback: a few of
them cannot stop others from being served, each is cut after the request deadline, and the access
log keeps query strings (Kannel's `sig`) out."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from tests.client import basic
from tests.factories import Credentials
from tests.servers import WebProcess, web_process

# Small numbers so the bound is reachable in a test: 2 processes x 2 threads.
WORKERS, THREADS, REQUEST_TIMEOUT = 2, 2, 3.0
BOUND = WORKERS * THREADS


@pytest.fixture
def web(app_environment: dict[str, str], tmp_path: Path) -> Iterator[WebProcess]:
    """The Procfile's web command, bound to loopback, until the test ends."""
    with web_process(
        app_environment,
        tmp_path / "web.log",
        WEB_CONCURRENCY=WORKERS,
        CAMPAIGN_WEB_THREADS=THREADS,
        CAMPAIGN_REQUEST_TIMEOUT=REQUEST_TIMEOUT,
        # The console carrier: the Kannel receipt route below answers 404, and logs the same.
        SMS_PROVIDER="console",
    ) as started:
        yield started


def _trickle_headers(port: int) -> socket.socket:
    """A client that has sent a request line and keeps sending one header line at a time."""
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n")
    return client


def _trickle_body(port: int, credentials: Credentials) -> socket.socket:
    """An authenticated client whose headers are complete and whose body comes a byte at a time
    (a route that reads its body, so the old server could not answer early and close)."""
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = (
        "POST /api/v1/phone-numbers HTTP/1.1\r\nHost: x\r\n"
        f"X-Account-Key: {credentials.key}\r\nAuthorization: {basic(credentials.token)}\r\n"
        "Content-Type: application/vnd.api+json\r\nContent-Length: 1000\r\n\r\n{"
    )
    client.sendall(head.encode())
    return client


def _idle(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def _keep_trickling(clients: list[socket.socket]) -> None:
    for client in clients:
        with suppress(OSError):
            client.sendall(b"a")


def _closed_by_server(client: socket.socket, *, within: float) -> bool:
    """True when the server ends the connection while the client keeps trickling (bounded)."""
    deadline = time.monotonic() + within
    client.settimeout(0.25)
    while time.monotonic() < deadline:
        try:
            client.sendall(b"X-Slow: 1\r\n")
            if client.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:
            return True
    return False


def test_slow_clients_below_the_bound_do_not_stop_the_api(
    web: WebProcess, account: Credentials
) -> None:
    # More slow clients than the old design had workers (2), up to the documented bound minus
    # one, plus idle connections that never send a byte.
    slow = [
        _trickle_headers(web.port),
        _trickle_body(web.port, account),
        _trickle_headers(web.port),
    ]
    assert len(slow) == BOUND - 1
    idle = [_idle(web.port) for _ in range(10)]
    try:
        for _ in range(3):
            time.sleep(0.2)
            _keep_trickling(slow)
        for _ in range(4):
            response = httpx.get(f"{web.base_url}/api/openapi.json", timeout=REQUEST_TIMEOUT - 1)
            assert response.status_code == 200
            _keep_trickling(slow)
    finally:
        for client in slow + idle:
            client.close()


def test_a_header_trickler_is_disconnected_after_the_request_timeout(web: WebProcess) -> None:
    client = _trickle_headers(web.port)
    try:
        assert _closed_by_server(client, within=REQUEST_TIMEOUT + 10)
    finally:
        client.close()


def test_a_slow_body_is_disconnected_after_the_request_timeout(
    web: WebProcess, account: Credentials
) -> None:
    client = _trickle_body(web.port, account)
    try:
        assert _closed_by_server(client, within=REQUEST_TIMEOUT + 10)
    finally:
        client.close()


def test_an_idle_connection_is_closed_after_the_request_timeout(web: WebProcess) -> None:
    client = _idle(web.port)
    client.settimeout(REQUEST_TIMEOUT + 10)
    try:
        assert client.recv(1) == b""
    finally:
        client.close()


def test_the_access_log_leaves_out_query_strings(web: WebProcess) -> None:
    response = httpx.get(
        f"{web.base_url}/callbacks/kannel/no-such-text",
        params={"sig": "s1gn4ture-in-the-url", "type": "1"},
        timeout=10,
    )
    assert response.status_code == 404
    deadline = time.monotonic() + 10
    while "/callbacks/kannel/no-such-text" not in web.log():
        assert time.monotonic() < deadline, web.log()
        time.sleep(0.1)
    assert "s1gn4ture-in-the-url" not in web.log()
    assert "sig=" not in web.log()
