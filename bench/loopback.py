"""The benchmarks' loopback HTTP: servers as processes of their own (an asyncio server on a free
port of 127.0.0.1, spawned so nothing is inherited from the benchmark, its port sent back once it
listens, stopped with terminate, then kill), the HTTP/1.1 framing they share (just enough: the
head up to its blank line, a Content-Length body), and the raw keep-alive client the ceilings
are measured with."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

START_TIMEOUT = 30.0
HEAD_END = b"\r\n\r\n"
MAX_HEAD = 64 * 1024


def content_length(head: bytes) -> int:
    """The Content-Length of a lower-cased head; 0 without one."""
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    stop = head.find(b"\r\n", at + 2)
    return int(head[at + 17 : stop if stop >= 0 else None].strip() or 0)


def http_response(status: str, payload: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


class RequestProtocol(asyncio.Protocol):
    """Reads requests off a keep-alive connection and hands each to `answer(head, body)` (the
    head lower-cased); a head past MAX_HEAD closes the connection."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def answer(self, head: bytes, body: bytes) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(HEAD_END)
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            head = bytes(self.buffer[:end]).lower()
            total = end + 4 + content_length(head)
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            self.answer(head, body)
            if b"\r\nconnection: close" in head and self.transport is not None:
                self.transport.close()
                self.transport = None


async def _send_all(
    host: str, port: int, requests: list[bytes], concurrency: int, ok: bytes
) -> tuple[float, int]:
    pending = iter(requests)
    answered = 0

    async def connection() -> None:
        nonlocal answered
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for request in pending:
                writer.write(request)
                head = await reader.readuntil(HEAD_END)
                await reader.readexactly(content_length(head.lower()))
                answered += head.startswith(ok)
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.monotonic() - started, answered


def send_all(
    host: str, port: int, requests: list[bytes], concurrency: int, ok: bytes
) -> tuple[float, int]:
    """(seconds, answers whose status line starts with `ok`) for sending every prebuilt request
    over `concurrency` keep-alive connections on plain asyncio streams."""
    return asyncio.run(_send_all(host, port, requests, concurrency, ok))


def listen(conn: Any, protocol: Callable[[], asyncio.Protocol], backlog: int) -> None:
    """In the child: serve `protocol` on a free loopback port, sent on `conn`, until stopped."""

    async def main() -> None:
        listener = await asyncio.get_running_loop().create_server(
            protocol, "127.0.0.1", 0, backlog=backlog
        )
        conn.send(listener.sockets[0].getsockname()[1])
        conn.close()
        await listener.serve_forever()

    asyncio.run(main())


def start(name: str, serve: Callable[..., None], *args: Any) -> tuple[BaseProcess, str]:
    """Spawn `serve(conn, *args)` (which calls `listen`); the process and its base URL."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=serve, args=(child, *args), name=name, daemon=True)
    process.start()
    child.close()
    if not parent.poll(START_TIMEOUT):
        stop(process)
        raise RuntimeError(f"the {name} did not start within {START_TIMEOUT:.0f} s")
    return process, f"http://127.0.0.1:{parent.recv()}"


def stop(process: BaseProcess | None) -> None:
    if process is not None and process.is_alive():
        process.terminate()
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)
