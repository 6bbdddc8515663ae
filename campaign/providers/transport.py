"""Pooled keep-alive HTTP/1.1 requests to one origin, with connect and read timeouts, no retries.

Failures say what the server may have seen: `NotSent` (it cannot have a complete request) or
`NoAnswer` (it may have taken the request); providers turn these into their error policy.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Mapping
from http.client import HTTPMessage, HTTPResponse
from typing import Literal, NamedTuple
from urllib.parse import urlsplit

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


class Response(NamedTuple):
    """A complete answer: status code, headers (case-insensitive `get`) and the whole body."""

    status: int
    headers: HTTPMessage
    body: bytes


def default_ssl_context() -> ssl.SSLContext:
    """The process's verifying TLS context, built once: loading the CA bundle takes ~40 ms."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = ssl.create_default_context()
        return _ssl_context


class _Connection:
    """One socket and when it last finished an exchange (monotonic seconds)."""

    __slots__ = ("last_used", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.last_used = time.monotonic()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def dropped(self) -> bool:
        """True when an idle connection has something to read: the server's FIN or RST (or
        stray bytes). Either way it cannot carry a new request (urllib3 checks the same)."""
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        poller = select.poll()  # not select(): file descriptors above 1023 are fine here
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))


class HttpTransport:
    """HTTP/1.1 to the origin of `base_url` over at most `max_connections` keep-alive sockets.

    Thread-safe: each request takes a connection to itself (the most recently used idle one, or a
    new one) and puts it back only after reading the whole answer. Nothing is ever sent twice,
    with one exception that is safe: when writing to a *reused* connection fails, the server
    closed it while idle and cannot have a complete request, so the request is written once more
    on a new connection. An answer that never comes (timeout, reset, the server hanging up
    before the status line, even on a reused connection) raises NoAnswer and is not repeated:
    a server that read the request and then crashed looks the same on the wire. To keep that
    rare, idle connections older than `idle_timeout` and ones the server has closed are
    discarded before use. `connect_timeout` bounds TCP connect plus the TLS handshake (DNS
    resolution is not bounded); `read_timeout` bounds each wait for the socket while writing the
    request and reading the answer.
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
            raise ValueError(f"expected an http:// or https:// URL, got {base_url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as error:
            raise ValueError(f"bad port in {base_url!r}") from error
        self.host, self.port = parts.hostname, port
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.pool_timeout = connect_timeout + read_timeout if pool_timeout is None else pool_timeout
        self.idle_timeout = idle_timeout
        self._ssl = (ssl_context or default_ssl_context()) if parts.scheme == "https" else None
        default_port = 443 if parts.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if port == default_port else f"{host}:{port}"
        fixed = {"Host": authority, "User-Agent": USER_AGENT, **(headers or {})}
        self._fixed_headers = _header_lines(fixed)
        # Idle connections, most recently used last: reusing the warmest keeps the rest cooling
        # towards idle_timeout, so a burst's extra connections are closed rather than kept.
        self._idle: deque[_Connection] = deque()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._closed = False

    def request(
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
        if not self._slots.acquire(timeout=self.pool_timeout):
            raise NotSent(
                f"no free connection to {self.host}:{self.port} within {self.pool_timeout:g} s",
                stage="pool",
            )
        try:
            connection = self._reusable()
            if connection is not None and not self._write(connection, payload, reused=True):
                connection = None
            if connection is None:
                connection = self._connect()
                self._write(connection, payload, reused=False)
            return self._read(connection, method)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close idle connections now and busy ones when their request ends; later requests
        raise RuntimeError."""
        with self._lock:  # no `_release` can slip a connection in after this
            self._closed = True
        while True:
            try:
                connection = self._idle.pop()
            except IndexError:
                return
            connection.close()

    # --- internals ----------------------------------------------------------------------------

    def _encode(
        self, method: str, target: str, body: bytes | None, headers: Mapping[str, str] | None
    ) -> bytes:
        if not method.isalpha() or not target.startswith("/") or _UNSAFE_TARGET.search(target):
            raise ValueError(f"cannot send {method} {target!r}")
        head = f"{method} {target} HTTP/1.1\r\n".encode("ascii") + self._fixed_headers
        if headers:
            head += _header_lines(headers)
        if body is not None:
            head += b"Content-Length: %d\r\n\r\n" % len(body)
            return head + body  # one write: headers and body leave in the same segment
        return head + b"\r\n"

    def _reusable(self) -> _Connection | None:
        stale_before = time.monotonic() - self.idle_timeout
        while True:
            try:
                connection = self._idle.pop()  # deque.pop is atomic: no lock needed
            except IndexError:
                return None
            if connection.last_used >= stale_before and not connection.dropped():
                return connection
            connection.close()

    def _connect(self) -> _Connection:
        # A socket of our own rather than http.client's HTTPConnection, whose send() silently
        # reconnects when its socket is gone and writes the head and the body separately; we
        # need to know exactly what was written where. http.client still parses the answer.
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as error:  # refused, unreachable, DNS (gaierror), connect timeout
            raise NotSent(
                f"cannot connect to {self.host}:{self.port}: {_describe(error)}", stage="connect"
            ) from error
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self.read_timeout)
        except OSError as error:  # TLS handshake failed or timed out: no request written yet
            sock.close()
            raise NotSent(
                f"cannot connect to {self.host}:{self.port}: {_describe(error)}", stage="connect"
            ) from error
        return _Connection(sock)

    def _write(self, connection: _Connection, payload: bytes, *, reused: bool) -> bool:
        """Write the whole request; False when a reused connection turned out closed."""
        try:
            # sendall returns once every byte is with the kernel; when it raises, the tail of
            # the request never left, and a server acts only on a complete request.
            connection.sock.sendall(payload)
        except _CLOSED_BY_PEER as error:
            connection.close()
            if reused:
                # The server closed it while it sat idle (a race with `dropped()`) and cannot
                # have the request: the caller writes it once more on a new connection.
                return False
            raise NotSent(f"{self._unsent()}: {_describe(error)}", stage="send") from error
        except OSError as error:  # a write timeout: the server is not reading
            connection.close()
            raise NotSent(f"{self._unsent()}: {_describe(error)}", stage="send") from error
        except BaseException:
            connection.close()
            raise
        return True

    def _unsent(self) -> str:
        return f"request to {self.host}:{self.port} not fully written"

    def _read(self, connection: _Connection, method: str) -> Response:
        response = HTTPResponse(connection.sock, method=method)
        try:
            response.begin()
            body = response.read()
        except Exception as error:  # timeout, reset, garbage: the request may have been taken
            connection.close()
            raise NoAnswer(f"no answer from {self.host}:{self.port}: {_describe(error)}") from error
        except BaseException:
            connection.close()
            raise
        finally:
            response.close()  # the file over the socket, not the socket
        if response.will_close:
            connection.close()
        else:
            self._release(connection)
        return Response(response.status, response.headers, body)

    def _release(self, connection: _Connection) -> None:
        connection.last_used = time.monotonic()
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()


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
