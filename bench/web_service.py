"""A customer's web service on loopback for the flows benchmark, in its own process.

It answers every `GET /orders/<n>` after `delay` seconds with `{"status": ...}` (`shipped` for
an even `n`, `pending` for an odd one), on keep-alive connections, and records the monotonic
time of each answer and the most requests it held at once. `GET /stats` and `POST /reset` as
the Twilio sink's. The parsing is the sink's (`bench/sink.py`); the delay is a `call_later`, so
one process holds thousands of waiting requests at no cost.
"""

from __future__ import annotations

import asyncio
import time
from multiprocessing.process import BaseProcess
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from bench import loopback
from bench.loopback import http_response


class _State:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.reset()

    def reset(self) -> None:
        self.times: list[float] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.keys: set[bytes] = set()
        self.repeated_keys = 0


class _ServiceProtocol(loopback.RequestProtocol):
    def __init__(self, state: _State) -> None:
        super().__init__()
        self.state = state

    def answer(self, head: bytes, body: bytes) -> None:
        line = head[: head.find(b"\r\n")]
        method, _, rest = line.partition(b" ")
        url = urlsplit(rest.rpartition(b" ")[0].decode())
        state = self.state
        if url.path.startswith("/orders/") and method == b"get":
            at = head.find(b"\r\nidempotency-key:")
            key = head[at : head.find(b"\r\n", at + 2)] if at >= 0 else b""
            state.repeated_keys += key in state.keys
            state.keys.add(key)
            status = "shipped" if int(url.path.rsplit("/", 1)[1] or 0) % 2 == 0 else "pending"
            state.in_flight += 1
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
            body = orjson.dumps({"status": status})
            asyncio.get_running_loop().call_later(state.delay, self._send_order, body)
        elif url.path == "/stats":
            self.write(http_response("200 OK", orjson.dumps(self._stats())))
        elif url.path == "/reset" and method == b"post":
            state.reset()
            self.write(http_response("200 OK", b'{"reset":true}'))
        else:
            self.write(http_response("404 Not Found", b"{}"))

    def _send_order(self, body: bytes) -> None:
        self.state.in_flight -= 1
        self.state.times.append(time.monotonic())
        self.write(http_response("200 OK", body))

    def _stats(self) -> dict[str, Any]:
        times = self.state.times
        return {
            "count": len(times),
            "first": times[0] if times else None,
            "last": times[-1] if times else None,
            "most_in_flight": self.state.most_in_flight,
            "repeated_keys": self.state.repeated_keys,
        }


def _serve(conn: Any, delay: float) -> None:
    state = _State(delay)
    loopback.listen(conn, lambda: _ServiceProtocol(state), backlog=4096)


class WebService:
    """The service process: `start()` it, call `url`, read `stats()`; the host to allow."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.url = ""
        self._process: BaseProcess | None = None
        self._client = httpx.Client(timeout=60, trust_env=False)

    def __enter__(self) -> WebService:
        self._process, self.url = loopback.start("web service", _serve, self.delay)
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()
        loopback.stop(self._process)
        self._process = None

    @property
    def pid(self) -> int:
        return self._process.pid if self._process and self._process.pid else 0

    @property
    def host(self) -> str:
        """`host:port` as CAMPAIGN_WEB_CALL_ALLOW_HOSTS takes it."""
        return urlsplit(self.url).netloc

    def stats(self) -> dict[str, Any]:
        response = self._client.get(f"{self.url}/stats")
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._client.post(f"{self.url}/reset").raise_for_status()


def get_ceiling(url: str, paths: list[str], concurrency: int) -> tuple[float, int]:
    """(seconds, answers 200) for GETting every path on raw asyncio streams, `concurrency`
    keep-alive connections: the most a caller holding that many calls open can get."""
    parts = urlsplit(url)
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: application/json\r\n\r\n".encode()
        for path in paths
    ]
    assert parts.hostname is not None and parts.port is not None
    return loopback.send_all(parts.hostname, parts.port, requests, concurrency, b"HTTP/1.1 200")
