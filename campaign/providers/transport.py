"""Pooled keep-alive HTTP/1.1 requests to one origin on asyncio, with timeouts and no retries.

Failures say what the server may have seen: `NotSent` (it cannot have a complete request) or
`NoAnswer` (it may have taken the request); providers turn these into their error policy.

One event loop sends a whole round of texts over a few dozen connections: a request costs
about a fifth of the CPU of a blocking socket per thread (see BENCHMARKS.md), which is what
dispatch is bound by.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import select
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

USER_AGENT = "campaign-sms/1"
DEFAULT_IDLE_TIMEOUT = 4.0  # under the 5 s after which Apache and Node close idle connections
# The most of one answer (interim answers, status line, headers, body, trailers) that is read.
# A carrier's answer is under 2 KB of JSON or a line of text; anything past this cap is hostile
# or broken, and reading it whole would let the carrier fill the worker's memory, so it is
# treated as no answer (the carrier may still have taken the request).
MAX_ANSWER = 64 * 1024

# A request line or header value with a control character or space (a target) could split the
# request; everything we send is percent-encoded or base64, so this only catches a bad URL.
_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: [^\r\n]*)?")

# What writing to a connection the server has closed raises (EPIPE, ECONNRESET, or TLS's EOF).
_CLOSED_BY_PEER = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)

_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


class NotSent(Exception):
    """The server cannot have received a complete request, so it cannot have acted on it.

    `stage` says where it failed: waiting for a free connection (`pool`), opening one (`connect`:
    DNS, refused, connect or TLS timeout) or writing the request (`send`: reset, write timeout).
    """

    def __init__(self, detail: str, *, stage: Literal["pool", "connect", "send"]) -> None:
        super().__init__(detail)
        self.stage = stage


class NoAnswer(Exception):
    """The request was (possibly) written and no complete answer came: the server may have it."""


class AnswerTooLarge(ValueError):
    """The answer ran past MAX_ANSWER; the rest of it is never read."""

    def __init__(self) -> None:
        super().__init__(f"the answer is larger than {MAX_ANSWER} bytes")


class Headers(dict[str, str]):
    """An answer's header fields by lower-cased name (a repeated field keeps its last value);
    `get` takes a name in any case."""

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(name.lower(), default)


class Response(NamedTuple):
    """A complete answer: status code, headers (case-insensitive `get`) and the whole body."""

    status: int
    headers: Headers
    body: bytes


def default_ssl_context() -> ssl.SSLContext:
    """The process's verifying TLS context, built once: loading the CA bundle takes ~40 ms."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = ssl.create_default_context()
        return _ssl_context


class _Connection:
    """One stream and when it last finished an exchange (monotonic seconds)."""

    __slots__ = ("last_used", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.last_used = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    def dropped(self) -> bool:
        """True when an idle connection has something to read: the server's FIN or RST (or
        stray bytes). Either way it cannot carry a new request (urllib3 checks the same). The
        socket itself is polled because the loop may not have run since the FIN arrived."""
        if self.writer.is_closing() or self.reader.at_eof():
            return True
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return True
        poller = select.poll()  # not select(): file descriptors above 1023 are fine here
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))


class HttpTransport:
    """HTTP/1.1 to the origin of `base_url` over at most `max_connections` keep-alive streams.

    Used from one event loop: each request takes a connection to itself (the most recently
    used idle one, or a new one) and puts it back only after reading the whole answer. Nothing
    is ever sent twice, with one exception that is safe: when writing to a *reused* connection
    fails, the server closed it while idle and cannot have a complete request, so the request
    is written once more on a new connection. An answer that never comes (timeout, reset, the
    server hanging up before the status line, even on a reused connection) raises NoAnswer and
    is not repeated: a server that read the request and then crashed looks the same on the
    wire. To keep that rare, idle connections older than `idle_timeout` and ones the server has
    closed are discarded before use. `connect_timeout` bounds TCP connect plus the TLS handshake
    (DNS resolution included); `read_timeout` bounds writing the request and reading the whole
    answer, together. A request therefore takes at most `connect_timeout + read_timeout`, and
    `read_timeout` more in the rare case of a write that fails on a reused connection before
    the request is written anew.
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int = 64,
        pool_timeout: float | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as error:
            raise ValueError("the URL has an invalid port") from error
        self.host, self.port = parts.hostname, port
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.pool_timeout = connect_timeout + read_timeout if pool_timeout is None else pool_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self._ssl = (ssl_context or default_ssl_context()) if parts.scheme == "https" else None
        default_port = 443 if parts.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if port == default_port else f"{host}:{port}"
        fixed = {"Host": authority, "User-Agent": USER_AGENT, **(headers or {})}
        self._fixed_headers = _header_lines(fixed)
        # Idle connections, most recently used last: reusing the warmest keeps the rest cooling
        # towards idle_timeout, so a burst's extra connections are closed rather than kept.
        self._idle: deque[_Connection] = deque()
        self._slots: asyncio.Semaphore | None = None  # made in the loop that uses it
        self._closed = False

    async def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request (`target` is the path and query) and read the whole answer.

        Raises NotSent, NoAnswer, ValueError for a request that cannot be written (nothing is
        sent), or RuntimeError after `close()`.
        """
        payload = self._encode(method, target, body, headers)
        if self._closed:
            raise RuntimeError("the HTTP transport is closed")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        try:
            async with asyncio.timeout(self.pool_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise NotSent(
                f"no free connection to {self.host}:{self.port} within {self.pool_timeout:g} s",
                stage="pool",
            ) from None
        try:
            loop = asyncio.get_running_loop()
            connection = self._reusable()
            deadline = loop.time() + self.read_timeout
            if connection is not None and not await self._write(
                connection, payload, deadline, reused=True
            ):
                connection = None
            if connection is None:
                connection = await self._connect()
                deadline = loop.time() + self.read_timeout
                await self._write(connection, payload, deadline, reused=False)
            return await self._read(connection, method, deadline)
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Close idle connections now and busy ones when their request ends; later requests
        raise RuntimeError."""
        self._closed = True
        idle, self._idle = list(self._idle), deque()
        for connection in idle:
            connection.close()
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.writer.wait_closed()

    # --- internals ----------------------------------------------------------------------------

    def _encode(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str] | None
    ) -> bytes:
        if not method.isalpha() or not target.startswith("/") or _UNSAFE_TARGET.search(target):
            # Never the target itself: its query string may hold credentials, and this message
            # becomes a text's error detail.
            raise ValueError(
                f"cannot send {method[:16]!r}: a space or control character in the URL"
            )
        head = f"{method} {target} HTTP/1.1\r\n".encode("ascii") + self._fixed_headers
        if headers:
            head += _header_lines(headers)
        if body is not None:
            head += b"Content-Length: %d\r\n\r\n" % len(body)
            return head + body  # one write: headers and body leave in the same segment
        return head + b"\r\n"

    def _reusable(self) -> _Connection | None:
        stale_before = time.monotonic() - self.idle_timeout
        while self._idle:
            connection = self._idle.pop()
            if connection.last_used >= stale_before and not connection.dropped():
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                    limit=MAX_ANSWER,
                )
        except (OSError, TimeoutError) as error:  # refused, DNS, timeout, TLS (SSLError)
            raise NotSent(
                f"cannot connect to {self.host}:{self.port}: {_describe(error)}", stage="connect"
            ) from error
        # asyncio sets TCP_NODELAY on its TCP streams already: a request leaves at once.
        return _Connection(reader, writer)

    async def _write(
        self, connection: _Connection, payload: bytes, deadline: float, *, reused: bool
    ) -> bool:
        """Write the whole request; False when a reused connection turned out closed."""
        try:
            connection.writer.write(payload)
            # drain returns once every byte is with the kernel; when it raises, the tail of
            # the request never left, and a server acts only on a complete request.
            async with asyncio.timeout_at(deadline):
                await connection.writer.drain()
        except _CLOSED_BY_PEER as error:
            connection.close()
            if reused:
                # The server closed it while it sat idle (a race with `dropped()`) and cannot
                # have the request: the caller writes it once more on a new connection.
                return False
            raise NotSent(f"{self._unsent()}: {_describe(error)}", stage="send") from error
        except (OSError, TimeoutError) as error:  # a write timeout: the server is not reading
            connection.close()
            raise NotSent(f"{self._unsent()}: {_describe(error)}", stage="send") from error
        except BaseException:
            connection.close()
            raise
        return True

    def _unsent(self) -> str:
        return f"request to {self.host}:{self.port} not fully written"

    async def _read(self, connection: _Connection, method: str, deadline: float) -> Response:
        try:
            async with asyncio.timeout_at(deadline):
                response, keep_alive = await _read_response(connection.reader, method)
        except Exception as error:  # timeout, reset, garbage: the request may have been taken
            connection.close()
            raise NoAnswer(f"no answer from {self.host}:{self.port}: {_describe(error)}") from error
        except BaseException:
            connection.close()
            raise
        if keep_alive and not self._closed:
            connection.last_used = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return response


class _Budget:
    """What is left of MAX_ANSWER for the rest of one answer."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_ANSWER

    def spend(self, size: int) -> None:
        """Count `size` more bytes; AnswerTooLarge once the answer would exceed the cap."""
        if size > self.left:
            raise AnswerTooLarge()
        self.left -= size

    async def readuntil(self, reader: asyncio.StreamReader, separator: bytes) -> bytes:
        try:
            data = await reader.readuntil(separator)
        except asyncio.LimitOverrunError:  # the stream's own limit is MAX_ANSWER too
            raise AnswerTooLarge() from None
        self.spend(len(data))
        return data

    async def readexactly(self, reader: asyncio.StreamReader, size: int) -> bytes:
        self.spend(size)  # before reading: a declared size past the cap is not read at all
        return await reader.readexactly(size)

    async def read_to_eof(self, reader: asyncio.StreamReader) -> bytes:
        # One byte over the budget tells a body that ends exactly at the cap from a longer one.
        data = await reader.read(self.left + 1)
        parts = [data]
        while data:
            self.spend(len(data))
            data = await reader.read(self.left + 1)
            parts.append(data)
        return b"".join(parts)


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[Response, bool]:
    """One answer (1xx interim answers skipped) and whether the connection may be reused.

    Everything read counts against MAX_ANSWER: AnswerTooLarge past it.
    """
    budget = _Budget()
    while True:
        head = await budget.readuntil(reader, b"\r\n\r\n")
        line, _, fields = head[:-4].partition(b"\r\n")
        matched = _STATUS_LINE.fullmatch(line)
        if matched is None:
            raise ValueError(f"not an HTTP/1.x status line: {line[:80]!r}")
        status = int(matched.group(2))
        if not 100 <= status < 200 or status == 101:
            break
    headers = Headers()
    for field in fields.split(b"\r\n") if fields else ():
        name, colon, value = field.partition(b":")
        if not colon or not name or name != name.strip():
            raise ValueError(f"malformed header field: {field[:80]!r}")
        headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
    connection_tokens = {t.strip().lower() for t in (headers.get("connection") or "").split(",")}
    keep_alive = (
        "keep-alive" in connection_tokens
        if matched.group(1) == b"0"
        else "close" not in connection_tokens
    )
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Response(status, headers, b""), keep_alive
    if "chunked" in (headers.get("transfer-encoding") or "").lower():
        return Response(status, headers, await _read_chunked(reader, budget)), keep_alive
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ValueError(f"bad Content-Length: {length[:40]!r}")
        body = await budget.readexactly(reader, int(length))
        return Response(status, headers, body), keep_alive
    # The body ends with the stream.
    return Response(status, headers, await budget.read_to_eof(reader)), False


async def _read_chunked(reader: asyncio.StreamReader, budget: _Budget) -> bytes:
    parts = []
    while True:
        size_line = await budget.readuntil(reader, b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await budget.readuntil(reader, b"\r\n") != b"\r\n":  # trailers, ignored
                pass
            return b"".join(parts)
        parts.append(await budget.readexactly(reader, size))
        if await budget.readexactly(reader, 2) != b"\r\n":
            raise ValueError("chunk not followed by CRLF")


def _header_lines(headers: Mapping[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        if not name.isascii() or _UNSAFE_TARGET.search(name) or _UNSAFE_VALUE.search(value):
            raise ValueError(f"cannot send header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
