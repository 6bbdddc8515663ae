"""Pooled keep-alive HTTP/1.1 requests to one origin on asyncio, with timeouts and no retries:
the project's client for every outbound call (carriers; web calls and customers' webhooks next).

Failures say what the server may have seen: `NotSent` (it cannot have a complete request) or
`NoAnswer` (it may have taken the request); callers turn these into their own policy.

Hand-written on purpose. Measured against eleven client libraries on this machine, the only
clearly cheaper one (pycurl, 0.29x the CPU per request) silently re-sends a POST the server
took on a reused connection (a duplicate text); pyreqwest is at parity but reports a hang-up
after the request was sent as a connect error (so a taken request would look unsent); aiohttp
costs 2x and httpx 48x. What a send needs from its client is exactly the NotSent / NoAnswer
line, which none of them draws. The next step, if one is wanted, is measured too: an asyncio
Protocol parsing with httptools (0.25x plain, 0.33x TLS) under this pool and this policy.

Per request: one deadline for writing the request and reading the whole answer, no timer
while waiting for a pool slot that is free, one poll object per connection for the idle check.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import select
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal
from urllib.parse import urlsplit

from campaign.http_client.answers import MAX_ANSWER, Response, read_response

USER_AGENT = "campaign-sms/1"
DEFAULT_IDLE_TIMEOUT = 4.0  # under the 5 s after which Apache and Node close idle connections

# A request line or header value with a control character or space (a target) could split the
# request; everything we send is percent-encoded or base64, so this only catches a bad URL.
_UNSAFE_TARGET = re.compile(r"[\x00-\x20\x7f]")
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

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


def default_ssl_context() -> ssl.SSLContext:
    """The process's verifying TLS context, built once: loading the CA bundle takes ~40 ms."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = ssl.create_default_context()
        return _ssl_context


class _Connection:
    """One stream and when it last finished an exchange (monotonic seconds)."""

    __slots__ = ("_poller", "last_used", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.last_used = time.monotonic()
        # Made once per connection: not select(), since descriptors above 1023 are fine here.
        self._poller: select.poll | None = None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            self._poller = select.poll()
            self._poller.register(sock.fileno(), select.POLLIN)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    def dropped(self) -> bool:
        """True when an idle connection has something to read: the server's FIN or RST (or
        stray bytes). Either way it cannot carry a new request (urllib3 checks the same). The
        socket itself is polled because the loop may not have run since the FIN arrived."""
        if self.writer.is_closing() or self.reader.at_eof() or self._poller is None:
            return True
        return bool(self._poller.poll(0))


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

    `guard` (an allow list, see guard.py) makes it a web call's transport: `base_url` must pass
    `check_url`, and each new connection goes to the address `resolve` checked, within
    `connect_timeout`, while the Host header and TLS server name stay the host as written.
    A refusal is `Refused`, a NotSent. None (the default, for carriers) means no guard.
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
        max_answer: int = MAX_ANSWER,
        guard: frozenset[str] | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._address: Callable[[asyncio.AbstractEventLoop], Awaitable[str]] | None = None
        if guard is not None:
            # Imported here, not at the top: guard.py imports NotSent from this module.
            from campaign.http_client.guard import check_url, resolve

            self._address = functools.partial(resolve, check_url(base_url), guard)
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
        # The most of one answer that is read (a call may ask for less): past it, the rest is
        # hostile or broken, and reading it whole would let the server fill our memory.
        self.max_answer = max_answer
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
        max_answer: int | None = None,
    ) -> Response:
        """Send one request (`target` is the path and query) and read the whole answer, of at
        most `max_answer` bytes (default: the transport's).

        Raises NotSent, NoAnswer, ValueError for a request that cannot be written (nothing is
        sent), or RuntimeError after `close()`.
        """
        payload = self._encode(method, target, body, headers)
        cap = self.max_answer if max_answer is None else min(max_answer, self.max_answer)
        if self._closed:
            raise RuntimeError("the HTTP transport is closed")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        await self._take_slot(self._slots)
        try:
            connection = self._reusable()
            if connection is not None:
                answer = await self._exchange(connection, method, payload, cap, reused=True)
                if answer is not None:
                    return answer
            connection = await self._connect()
            answer = await self._exchange(connection, method, payload, cap, reused=False)
            assert answer is not None  # a new connection's failed write raises instead
            return answer
        finally:
            self._slots.release()

    async def _take_slot(self, slots: asyncio.Semaphore) -> None:
        if not slots.locked():
            await slots.acquire()  # free: taken at once, no timer armed
            return
        try:
            async with asyncio.timeout(self.pool_timeout):
                await slots.acquire()
        except TimeoutError:
            raise NotSent(
                f"no free connection to {self.host}:{self.port} within {self.pool_timeout:g} s",
                stage="pool",
            ) from None

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
                address = self.host
                if self._address is not None:
                    address = await self._address(asyncio.get_running_loop())
                reader, writer = await asyncio.open_connection(
                    address,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                    limit=self.max_answer,
                )
        except (OSError, TimeoutError) as error:  # refused, DNS, timeout, TLS (SSLError)
            raise NotSent(
                f"cannot connect to {self.host}:{self.port}: {_describe(error)}", stage="connect"
            ) from error
        # asyncio sets TCP_NODELAY on its TCP streams already: a request leaves at once.
        return _Connection(reader, writer)

    async def _exchange(
        self, connection: _Connection, method: str, payload: bytes, cap: int, *, reused: bool
    ) -> Response | None:
        """Write the request and read the answer under one deadline (`read_timeout`).

        None when a reused connection turned out closed before the request was written (the
        caller writes it once more on a new connection). Otherwise NotSent while the request
        is not all with the kernel, NoAnswer once it is.
        """
        written = False
        try:
            async with asyncio.timeout(self.read_timeout):
                try:
                    connection.writer.write(payload)
                    # drain returns once every byte is with the kernel; when it raises, the
                    # tail of the request never left, and a server acts only on a whole request.
                    await connection.writer.drain()
                except _CLOSED_BY_PEER as error:
                    connection.close()
                    if reused:
                        # Closed by the server while idle (a race with `dropped()`): it cannot
                        # have the request.
                        return None
                    raise NotSent(f"{self._unsent()}: {_describe(error)}", stage="send") from error
                except OSError as error:
                    connection.close()
                    raise NotSent(f"{self._unsent()}: {_describe(error)}", stage="send") from error
                written = True
                response, keep_alive = await read_response(connection.reader, method, cap)
        except NotSent:
            raise
        except TimeoutError as error:
            connection.close()
            if not written:  # a write timeout: the server is not reading
                raise NotSent(f"{self._unsent()}: {_describe(error)}", stage="send") from error
            raise NoAnswer(f"no answer from {self.host}:{self.port}: {_describe(error)}") from error
        except Exception as error:  # reset, garbage, too large: the request may have been taken
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

    def _unsent(self) -> str:
        return f"request to {self.host}:{self.port} not fully written"


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
