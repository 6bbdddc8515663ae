"""A fast loopback sink that speaks Twilio's Messages API, in its own process.

An asyncio protocol parses just enough HTTP/1.1 (request line, headers up to Content-Length, the
body), answers 201 with a Twilio-like Message resource over keep-alive connections, and records
(monotonic time, raw form) per message; forms are decoded only when `/stats` asks, so the hot
path stays a few microseconds. `GET /stats` reports counts, first and last times, the busiest
second and duplicates; `POST /reset` forgets everything. Times are `time.monotonic()`, one clock
for every process on the machine, so the benchmark compares them with its own.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson

from bench import loopback
from bench.loopback import http_response

API_VERSION = "2010-04-01"


@dataclass
class _Records:
    """What the sink has taken since the last reset; forms decoded lazily, once each."""

    times: list[float] = field(default_factory=list)
    forms: list[bytes] = field(default_factory=list)
    decoded: list[tuple[str, str]] = field(default_factory=list)  # (To, Body) per message
    rejected: int = 0

    def decode(self) -> list[tuple[str, str]]:
        for raw in self.forms[len(self.decoded) :]:
            form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            self.decoded.append((form.get("To", [""])[0], form.get("Body", [""])[0]))
        return self.decoded

    def stats(self, query: dict[str, list[str]]) -> dict[str, Any]:
        count, times = len(self.times), self.times
        out: dict[str, Any] = {
            "count": count,
            "rejected": self.rejected,
            "first": times[0] if times else None,
            "last": times[-1] if times else None,
        }
        if query.get("full", ["0"])[0] != "1":
            return out
        decoded = self.decode()
        per_number = Counter(to for to, _ in decoded)
        duplicates = {to: n for to, n in per_number.items() if n > 1}
        out.update(
            unique=len(per_number),
            duplicates=len(duplicates),
            duplicate_examples=dict(list(duplicates.items())[:10]),
            max_per_second=max(_per_second(times), default=0),
            max_sliding_second=_max_sliding(times),
            body_example=decoded[0][1] if decoded else None,
        )
        if query.get("seconds", ["0"])[0] == "1":
            out["per_second"] = _per_second(times)
        if query.get("numbers", ["0"])[0] == "1":
            out["numbers"] = [to for to, _ in decoded]
        return out


def _per_second(times: list[float]) -> list[int]:
    """Messages in each second, seconds counted from the first message."""
    if not times:
        return []
    counts = Counter(int(t - times[0]) for t in times)
    return [counts.get(second, 0) for second in range(max(counts) + 1)]


def _max_sliding(times: list[float]) -> int:
    """Most messages in any window of one second (times are in arrival order)."""
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


class _SinkProtocol(loopback.RequestProtocol):
    def __init__(self, server: _SinkServer) -> None:
        super().__init__()
        self.server = server

    def answer(self, head: bytes, body: bytes) -> None:
        self.write(self.server.handle(head, body))


class _SinkServer:
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.records = _Records()
        self.messages_path = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json".encode()
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode())
        self.authorization = b"\r\nauthorization: basic " + credentials.lower()
        self.account_sid = account_sid
        self.sequence = 0

    def handle(self, head: bytes, body: bytes) -> bytes:
        line_end = head.find(b"\r\n")
        method, _, rest = head[: line_end if line_end >= 0 else None].partition(b" ")
        target = rest.rpartition(b" ")[0]
        if method == b"post" and target == self.messages_path.lower():
            if self.authorization not in head:
                self.records.rejected += 1
                return http_response("401 Unauthorized", b'{"code":20003,"status":401}')
            self.records.times.append(time.monotonic())
            self.records.forms.append(body)
            self.sequence += 1
            return http_response("201 Created", self._message(self.sequence))
        url = urlsplit(target.decode())
        if method == b"get" and url.path == "/stats":
            return http_response("200 OK", orjson.dumps(self.records.stats(parse_qs(url.query))))
        if method == b"post" and url.path == "/reset":
            self.records = _Records()
            return http_response("200 OK", b'{"reset":true}')
        return http_response("404 Not Found", b'{"code":20404,"status":404}')

    def _message(self, sequence: int) -> bytes:
        sid = f"SM{sequence:032x}"
        return orjson.dumps(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "api_version": API_VERSION,
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": "1",
                "num_media": "0",
                "error_code": None,
                "error_message": None,
                "price": None,
                "price_unit": "USD",
                "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json",
            }
        )


def _serve(conn: Any, account_sid: str, auth_token: str) -> None:
    server = _SinkServer(account_sid, auth_token)
    loopback.listen(conn, lambda: _SinkProtocol(server), backlog=1024)


class FastSink:
    """The sink process: `start()` it, point TWILIO_API_BASE at `url`, read `stats()`."""

    def __init__(self) -> None:
        self.account_sid = "AC" + secrets.token_hex(16)
        self.auth_token = secrets.token_hex(16)
        self.url = ""
        self._process: BaseProcess | None = None
        # One client for every poll: `httpx.get` builds a client, and its TLS context, per call,
        # which at 20 polls a second took most of a core away from the engine being measured.
        self._client = httpx.Client(timeout=60, trust_env=False)

    def start(self) -> FastSink:
        self._process, self.url = loopback.start(
            "fast-sink", _serve, self.account_sid, self.auth_token
        )
        return self

    @property
    def pid(self) -> int:
        return self._process.pid if self._process and self._process.pid else 0

    @property
    def messages_url(self) -> str:
        return f"{self.url}/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    def stats(
        self, *, full: bool = False, numbers: bool = False, seconds: bool = False
    ) -> dict[str, Any]:
        """Counts and times; `full` adds duplicates and the busiest second, `numbers` every To,
        `seconds` the count of each second from the first message."""
        flags = {"full": full, "numbers": numbers, "seconds": seconds}
        params = {name: "1" if value else "0" for name, value in flags.items()}
        response = self._client.get(f"{self.url}/stats", params=params)
        response.raise_for_status()
        return response.json()

    def wait_for(self, expected: int, *, timeout: float, stall: float = 60.0) -> int:
        """Poll until the sink holds `expected` messages, or nothing came for `stall` seconds."""
        deadline = time.monotonic() + timeout
        count, progress_at = 0, time.monotonic()
        while time.monotonic() < deadline:
            current = self.stats()["count"]
            if current != count:
                count, progress_at = current, time.monotonic()
            if count >= expected or time.monotonic() - progress_at > stall:
                break
            time.sleep(0.05)
        return count

    def reset(self) -> None:
        self._client.post(f"{self.url}/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        self._client.close()
        loopback.stop(self._process)
        self._process = None
