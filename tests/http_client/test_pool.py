"""HttpTransport against small loopback servers that misbehave on purpose: reuse, timeouts,
refusals, servers that close connections, and many concurrent requests sharing one pool.

The servers are threads with blocking sockets; each test drives the asyncio transport through
`Client`, which runs its coroutines on one event loop, as a provider does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from campaign.http_client import MAX_ANSWER, HttpTransport, NoAnswer, NotSent, Response

Handler = Callable[["Peer"], None]


@dataclass(frozen=True)
class Request:
    connection: int  # which accepted connection (0, 1, ...) carried it
    method: str
    target: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class Peer:
    """One accepted connection, seen from the server side, with a tiny HTTP/1.1 reader."""

    def __init__(self, server: LoopbackServer, index: int, sock: socket.socket) -> None:
        self.server, self.index, self.sock = server, index, sock
        self._buffer = b""

    def read_head(self) -> tuple[str, str, dict[str, str]] | None:
        """The request line and headers, or None when the client closed the connection."""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        line, *fields = head.decode("latin-1").split("\r\n")
        method, target, _ = line.split(" ")
        headers = {}
        for field in fields:
            name, _, value = field.partition(":")
            headers[name.strip().lower()] = value.strip()
        return method, target, headers

    def read_body(self, length: int) -> bytes | None:
        """Exactly `length` bytes, or None when the client closed the connection before."""
        while len(self._buffer) < length:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return None
            self._buffer += chunk
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return body

    def read_request(self) -> Request | None:
        """A complete request (recorded by the server), or None if the client went away."""
        head = self.read_head()
        if head is None:
            return None
        body = self.read_body(int(head[2].get("content-length", "0")))
        if body is None:
            return None
        request = Request(self.index, *head, body)
        self.server.record(request)
        return request

    def answer(self, body: bytes, status: str = "200 OK", headers: str = "") -> None:
        self.sock.sendall(
            f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body
        )

    def reset(self) -> None:
        """Close with an RST rather than a FIN (SO_LINGER with a zero timeout)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


class LoopbackServer:
    """Listens on 127.0.0.1 and runs `handler(peer)` for each connection in its own thread."""

    def __init__(self, handler: Handler, *, receive_buffer: int | None = None) -> None:
        self.handler = handler
        self.listener = socket.socket()
        if receive_buffer:
            # Set before listen() so accepted sockets inherit it (and the kernel stops growing it).
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[Request] = []
        self.connections = 0
        self._lock = threading.Lock()
        self._peers: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                index, self.connections = self.connections, self.connections + 1
                self._peers.append(sock)
            threading.Thread(
                target=self._serve, args=(Peer(self, index, sock),), daemon=True
            ).start()

    def _serve(self, peer: Peer) -> None:
        try:
            self.handler(peer)
        except OSError:
            pass  # the client went away: part of several tests
        finally:
            peer.sock.close()

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            peers = list(self._peers)
        for sock in peers:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes handlers blocked in recv


@pytest.fixture
def serve() -> Iterator[Callable[..., LoopbackServer]]:
    servers: list[LoopbackServer] = []

    def start(handler: Handler, **options: int) -> LoopbackServer:
        server = LoopbackServer(handler, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


class Client:
    """An HttpTransport and the event loop it lives on; `request` runs one request to its end."""

    def __init__(self, url: str, **options: object) -> None:
        settings: dict[str, object] = {"connect_timeout": 2.0, "read_timeout": 5.0, **options}
        self.transport = HttpTransport(url, **settings)  # type: ignore[arg-type]
        self.runner = asyncio.Runner()

    def request(self, method: str, target: str, **options: object) -> Response:
        return self.runner.run(self.transport.request(method, target, **options))  # type: ignore[arg-type]

    def gather(self, *requests: tuple[str, str, bytes | None]) -> list[Response | BaseException]:
        """Run the requests concurrently; each one's answer or exception, in order."""

        async def all_of() -> list[Response | BaseException]:
            return await asyncio.gather(
                *(self.transport.request(m, t, body=b) for m, t, b in requests),
                return_exceptions=True,
            )

        return self.runner.run(all_of())

    def close(self) -> None:
        self.runner.run(self.transport.close())

    def dispose(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
        self.runner.close()


@pytest.fixture
def transports() -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(url: str, **options: object) -> Client:
        client = Client(url, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.dispose()


def echo(peer: Peer) -> None:
    """Answer every request on the connection with its own body (or target), keep-alive."""
    while (request := peer.read_request()) is not None:
        peer.answer(request.body or request.target.encode(), headers="X-Echo: yes\r\n")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- ordinary exchanges --------------------------------------------------------------------------


def test_request_returns_status_headers_and_body_and_sends_host_and_headers(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    server = serve(echo)
    transport = transports(server.url, headers={"Authorization": "Basic eA=="})
    response = transport.request(
        "POST", "/a/b?c=1", body=b"To=%2B1&Body=hi", headers={"Content-Type": "text/plain"}
    )

    assert (response.status, response.body) == (200, b"To=%2B1&Body=hi")
    assert response.headers.get("x-echo") == response.headers.get("X-ECHO") == "yes"
    [request] = server.requests
    assert (request.method, request.target, request.body) == (
        "POST",
        "/a/b?c=1",
        b"To=%2B1&Body=hi",
    )
    assert request.headers["host"] == f"127.0.0.1:{server.port}"
    assert request.headers["authorization"] == "Basic eA=="
    assert request.headers["content-type"] == "text/plain"
    assert request.headers["content-length"] == "15"


def test_sequential_requests_reuse_one_keep_alive_connection(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    server = serve(echo)
    transport = transports(server.url)
    bodies = [transport.request("GET", f"/{index}").body for index in range(5)]

    assert bodies == [f"/{index}".encode() for index in range(5)]
    assert server.connections == 1
    assert {request.connection for request in server.requests} == {0}


def test_answer_with_connection_close_is_not_reused(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    def close_after_each(peer: Peer) -> None:
        if peer.read_request() is not None:
            peer.answer(b"bye", headers="Connection: close\r\n")

    server = serve(close_after_each)
    transport = transports(server.url)
    statuses = [transport.request("GET", "/").status for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert server.connections == 3


def test_chunked_answer_is_read_whole_and_the_connection_is_reused(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    def chunked(peer: Peer) -> None:
        while peer.read_request() is not None:
            peer.sock.sendall(
                b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )

    server = serve(chunked)
    transport = transports(server.url)
    first, second = transport.request("GET", "/"), transport.request("GET", "/")

    assert (first.status, first.body) == (201, b"hello world")
    assert second.body == b"hello world"
    assert server.connections == 1


def test_idle_connection_older_than_idle_timeout_is_replaced(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    server = serve(echo)
    transport = transports(server.url, idle_timeout=0.05)
    transport.request("GET", "/1")
    time.sleep(0.1)  # past idle_timeout: the first connection must not carry the next request
    transport.request("GET", "/2")

    assert server.connections == 2
    assert [(r.connection, r.target) for r in server.requests] == [(0, "/1"), (1, "/2")]


# --- failures before the request leaves: NotSent -------------------------------------------------


def test_nothing_listening_is_not_sent_at_connect(transports: Callable[..., Client]) -> None:
    transport = transports(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(NotSent) as caught:
        transport.request("GET", "/")

    assert caught.value.stage == "connect"
    assert "ConnectionRefusedError" in str(caught.value)


def test_connect_timeout_is_not_sent() -> None:
    # A listener whose accept queue is full and never drained: the kernel drops further SYNs,
    # so a connect neither succeeds nor is refused.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        fillers: list[socket.socket] = []
        try:
            for _ in range(16):
                filler = socket.socket()
                fillers.append(filler)
                filler.settimeout(0.2)
                try:
                    filler.connect(address)
                except TimeoutError:
                    break  # the queue is full
            transport = Client(f"http://127.0.0.1:{address[1]}", connect_timeout=0.3)
            try:
                with pytest.raises(NotSent) as caught:
                    transport.request("GET", "/")
            finally:
                transport.dispose()
        finally:
            for filler in fillers:
                filler.close()

    assert caught.value.stage == "connect"
    assert "TimeoutError" in str(caught.value)


def test_write_failure_on_a_new_connection_is_not_sent_and_not_retried(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    body_seen: list[bool] = []

    def reset_after_the_head(peer: Peer) -> None:
        head = peer.read_head()
        body_seen.append(head is None)
        peer.reset()

    # A body far larger than the socket buffers: the write is still going when the RST comes.
    server = serve(reset_after_the_head, receive_buffer=64 * 1024)
    transport = transports(server.url)
    with pytest.raises(NotSent) as caught:
        transport.request("POST", "/", body=b"x" * (16 << 20))

    assert caught.value.stage == "send"
    assert server.connections == 1  # no second attempt
    assert server.requests == []  # no complete request ever arrived
    assert body_seen == [False]


def test_all_connections_busy_is_not_sent_from_the_pool(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    arrived, release = threading.Event(), threading.Event()

    def slow(peer: Peer) -> None:
        while peer.read_request() is not None:
            arrived.set()
            release.wait(10)
            peer.answer(b"done")

    server = serve(slow)
    client = transports(server.url, max_connections=1, pool_timeout=0.2)

    async def second_while_first_is_answered() -> tuple[BaseException | None, Response]:
        first = asyncio.ensure_future(client.transport.request("GET", "/first"))
        assert await asyncio.to_thread(arrived.wait, 5)
        try:
            await client.transport.request("GET", "/second")
        except NotSent as error:
            caught: BaseException | None = error
        else:
            caught = None
        finally:
            release.set()
        return caught, await first

    caught, first = client.runner.run(second_while_first_is_answered())

    assert first.body == b"done"
    assert isinstance(caught, NotSent) and caught.stage == "pool"
    assert [request.target for request in server.requests] == ["/first"]


def test_request_that_would_split_the_request_line_or_a_header_is_refused_unsent(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    server = serve(echo)
    transport = transports(server.url)
    with pytest.raises(ValueError):
        transport.request("GET", "/x HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET /y")
    with pytest.raises(ValueError):
        transport.request("GET", "/", headers={"X-Note": "a\r\nX-Evil: 1"})

    assert server.connections == 0


def test_request_after_close_is_refused(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    server = serve(echo)
    transport = transports(server.url)
    transport.request("GET", "/before")
    transport.close()
    with pytest.raises(RuntimeError):
        transport.request("GET", "/after")

    assert [request.target for request in server.requests] == ["/before"]


# --- failures after the request may have left: NoAnswer ------------------------------------------


def test_answer_slower_than_read_timeout_is_no_answer_and_not_resent(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    gave_up = threading.Event()

    def never_answer(peer: Peer) -> None:
        if peer.read_request() is not None:
            gave_up.wait(10)

    server = serve(never_answer)
    transport = transports(server.url, read_timeout=0.3)
    try:
        with pytest.raises(NoAnswer) as caught:
            transport.request("POST", "/", body=b"once")
    finally:
        gave_up.set()

    assert "TimeoutError" in str(caught.value)
    assert [request.body for request in server.requests] == [b"once"]
    assert server.connections == 1


def test_hang_up_after_reading_the_request_is_no_answer_even_on_a_reused_connection(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    def answer_once_then_hang_up(peer: Peer) -> None:
        if peer.read_request() is not None:
            peer.answer(b"first")
        peer.read_request()  # took the second request, then crashed before answering

    server = serve(answer_once_then_hang_up)
    transport = transports(server.url)
    assert transport.request("POST", "/", body=b"1").body == b"first"
    with pytest.raises(NoAnswer):
        transport.request("POST", "/", body=b"2")

    # The server may have acted on the second request: it must not get it again.
    assert [(r.connection, r.body) for r in server.requests] == [(0, b"1"), (0, b"2")]
    assert server.connections == 1


def test_garbage_instead_of_an_answer_is_no_answer(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    def garbage(peer: Peer) -> None:
        if peer.read_request() is not None:
            peer.sock.sendall(b"SMTP ready\r\n\r\n")

    server = serve(garbage)
    transport = transports(server.url)
    with pytest.raises(NoAnswer):
        transport.request("GET", "/")

    assert len(server.requests) == 1


def _head(length: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length


@pytest.mark.parametrize("over", [0, 1])
def test_an_answer_of_max_answer_bytes_is_read_and_one_byte_more_is_no_answer(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client], over: int
) -> None:
    # The status line, headers and body together make exactly MAX_ANSWER bytes (plus `over`).
    length = MAX_ANSWER - len(_head(MAX_ANSWER)) + over

    def answer(peer: Peer) -> None:
        if peer.read_request() is not None:
            peer.sock.sendall(_head(length) + b"x" * length)

    transport = transports(serve(answer).url)
    if over:
        with pytest.raises(NoAnswer, match=f"larger than {MAX_ANSWER} bytes"):
            transport.request("GET", "/")
    else:
        assert transport.request("GET", "/").body == b"x" * length


def test_endless_interim_answers_are_no_answer(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    def continue_forever(peer: Peer) -> None:
        if peer.read_request() is not None:
            with contextlib.suppress(OSError):
                for _ in range(MAX_ANSWER):  # bounded: far past the cap, then give up
                    peer.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    transport = transports(serve(continue_forever).url)
    with pytest.raises(NoAnswer, match="larger than"):
        transport.request("GET", "/")


# --- stale keep-alive connections ----------------------------------------------------------------


def test_connection_the_server_closed_while_idle_is_replaced_before_sending(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    closed = threading.Event()

    def answer_then_close(peer: Peer) -> None:
        # Keep-alive by the headers, but the server drops the idle connection right away.
        if peer.read_request() is not None:
            peer.answer(b"ok")
        peer.sock.close()
        closed.set()

    server = serve(answer_then_close)
    transport = transports(server.url)
    transport.request("POST", "/", body=b"1")
    assert closed.wait(5)
    # Writing on the closed connection would succeed and the answer would never come (an
    # ambiguous NoAnswer); the FIN already waiting on the idle socket gives it away instead.
    response = transport.request("POST", "/", body=b"2")

    assert response.body == b"ok"
    assert [(r.connection, r.body) for r in server.requests] == [(0, b"1"), (1, b"2")]


def test_write_failure_on_a_reused_connection_is_retried_once_on_a_new_one(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    partial_heads: list[str] = []

    def reset_second_request_midway(peer: Peer) -> None:
        if peer.index > 0:
            # The body's length, not the body: an answer that size is past MAX_ANSWER.
            if (request := peer.read_request()) is not None:
                peer.answer(b"%d" % len(request.body))
            return
        if peer.read_request() is not None:
            peer.answer(b"warm")
        head = peer.read_head()  # the next request's head arrives, its body never will
        if head is not None:
            partial_heads.append(head[1])
        peer.reset()

    # The body dwarfs the socket buffers, so the write is still going when the RST arrives:
    # the server cannot have a complete request, and the transport writes it on a new one.
    server = serve(reset_second_request_midway, receive_buffer=64 * 1024)
    transport = transports(server.url)
    assert transport.request("GET", "/warm").body == b"warm"
    big = b"y" * (16 << 20)
    response = transport.request("POST", "/big", body=big)

    assert response.status == 200 and response.body == b"%d" % len(big)
    assert partial_heads == ["/big"]
    assert [(r.connection, r.target, len(r.body)) for r in server.requests] == [
        (0, "/warm", 0),
        (1, "/big", len(big)),
    ]


# --- concurrency ---------------------------------------------------------------------------------


def test_many_concurrent_requests_each_go_exactly_once_within_max_connections(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    server = serve(echo)
    transport = transports(server.url, max_connections=8)
    bodies = [f"message {index}".encode() for index in range(2000)]
    answers = transport.gather(*(("POST", "/", body) for body in bodies))

    # Each request got its own answer, never another's.
    assert [getattr(answer, "body", answer) for answer in answers] == bodies
    assert sorted(request.body for request in server.requests) == sorted(bodies)
    assert 1 <= server.connections <= 8


# --- TLS -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        reason = "openssl is needed to make a test certificate"
        if os.environ.get("CI"):
            pytest.fail(reason)  # Debian images have it: a skip in CI would hide the TLS tests
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def tls_server(serve: Callable[..., LoopbackServer], cert: Path, key: Path) -> LoopbackServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def tls_echo(peer: Peer) -> None:
        try:
            peer.sock = context.wrap_socket(peer.sock, server_side=True)
        except ssl.SSLError:
            return  # the client refused our certificate
        echo(peer)

    return serve(tls_echo)


def test_https_requests_verify_the_certificate_and_reuse_the_connection(
    serve: Callable[..., LoopbackServer], certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    server = tls_server(serve, cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    transport = Client(f"https://localhost:{server.port}", ssl_context=trusting)
    try:
        bodies = [transport.request("POST", "/", body=f"{i}".encode()).body for i in range(3)]
    finally:
        transport.dispose()

    assert bodies == [b"0", b"1", b"2"]
    assert server.connections == 1
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


def test_https_with_an_untrusted_certificate_is_not_sent(
    serve: Callable[..., LoopbackServer], certificate: tuple[Path, Path]
) -> None:
    server = tls_server(serve, *certificate)
    transport = Client(f"https://localhost:{server.port}")
    try:
        with pytest.raises(NotSent) as caught:
            transport.request("GET", "/")
    finally:
        transport.dispose()

    assert caught.value.stage == "connect"
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert server.requests == []


def test_url_that_is_not_http_is_rejected_at_construction() -> None:
    for url in ("ftp://127.0.0.1/x", "127.0.0.1:13013/cgi-bin/sendsms", "http://:80/"):
        with pytest.raises(ValueError):
            HttpTransport(url, connect_timeout=1.0, read_timeout=1.0)


# --- framing a recipient must accept, and framing it must refuse (RFC 9112) ---------------------


def _answering(raw: bytes) -> Handler:
    """A server that answers every request on the connection with `raw`, as written."""

    def handler(peer: Peer) -> None:
        while peer.read_request() is not None:
            peer.sock.sendall(raw)

    return handler


@pytest.mark.parametrize(
    ("raw", "body", "header"),
    [
        (b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: 1\n\nok", b"ok", "1"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\nX-A: 1\r\n\nok", b"ok", "1"),
        (
            b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\n\tthree\r\nContent-Length: 2\r\n\r\nok",
            b"ok",
            "one two three",
        ),
        (
            b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\nX-A: 1\n\n2\nok\n1\r\n!\n0\n\n",
            b"ok!",
            "1",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok",
            b"ok",
            "1",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nX-A: 1\r\n\r\nok", b"ok", "1"),
    ],
    ids=[
        "bare-lf",
        "mixed-endings",
        "obs-fold",
        "chunked-bare-lf",
        "repeated-length",
        "length-list",
    ],
)
def test_lenient_framing_is_read_at_once_and_the_connection_kept(
    serve: Callable[..., LoopbackServer],
    transports: Callable[..., Client],
    raw: bytes,
    body: bytes,
    header: str,
) -> None:
    """Bare LF ends a line (§2.2) and an obs-fold continues a field as one space (§5.2): read
    at once, not after the read timeout as no answer."""
    server = serve(_answering(raw))
    transport = transports(server.url, read_timeout=2.0)
    started = time.monotonic()

    first = transport.request("GET", "/a")
    second = transport.request("GET", "/b")

    assert (first.status, first.body, first.headers.get("x-a")) == (200, body, header)
    assert second.body == body
    assert time.monotonic() - started < 1.5  # not the read timeout
    assert server.connections == 1


@pytest.mark.parametrize(
    "lengths",
    [b"Content-Length: 2\r\nContent-Length: 5\r\n", b"Content-Length: 2, 5\r\n"],
    ids=["two-fields", "one-list"],
)
def test_conflicting_content_lengths_are_no_answer_and_the_connection_is_closed(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client], lengths: bytes
) -> None:
    """Either length would leave the connection out of step with the server (§6.3)."""
    server = serve(_answering(b"HTTP/1.1 200 OK\r\n" + lengths + b"\r\nok..."))
    transport = transports(server.url)

    with pytest.raises(NoAnswer, match="conflicting Content-Length"):
        transport.request("GET", "/a")
    with pytest.raises(NoAnswer):
        transport.request("GET", "/b")

    assert server.connections == 2  # the first connection was not reused


def test_a_call_may_read_less_than_the_transports_cap(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    body = b"x" * 500
    server = serve(_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + body))
    transport = transports(server.url)

    with pytest.raises(NoAnswer, match="larger than 256 bytes"):
        transport.request("GET", "/small", max_answer=256)
    assert transport.request("GET", "/default").body == body


def test_a_call_cannot_read_more_than_the_transports_cap(
    serve: Callable[..., LoopbackServer], transports: Callable[..., Client]
) -> None:
    server = serve(_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + b"x" * 500))
    transport = transports(server.url, max_answer=300)

    with pytest.raises(NoAnswer, match="larger than 300 bytes"):
        transport.request("GET", "/more", max_answer=10 * MAX_ANSWER)
