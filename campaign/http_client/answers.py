"""Reading one HTTP/1.x answer from a stream, within a cap on the bytes read.

Lenient where RFC 9112 tells a recipient to be (a bare LF ends a line, §2.2; an obs-fold
continues a field's value and becomes one space, §5.2) and strict where leniency would let the
connection fall out of step with the server: Content-Length values that differ (§6.3) are an
error, and the connection is closed rather than reused.
"""

from __future__ import annotations

import asyncio
import re
from typing import NamedTuple

# The most of one answer (interim answers, status line, headers, body, trailers) that is read
# unless a call says otherwise. A carrier's answer is under 2 KB of JSON or a line of text.
MAX_ANSWER = 64 * 1024

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: [^\r\n]*)?")


class AnswerTooLarge(ValueError):
    """The answer ran past its cap; the rest of it is never read."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"the answer is larger than {cap} bytes")


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


class Budget:
    """What is left of one answer's cap."""

    __slots__ = ("cap", "left")

    def __init__(self, cap: int = MAX_ANSWER) -> None:
        self.cap = self.left = cap

    def spend(self, size: int) -> None:
        """Count `size` more bytes; AnswerTooLarge once the answer would exceed the cap."""
        if size > self.left:
            raise AnswerTooLarge(self.cap)
        self.left -= size

    async def readline(self, reader: asyncio.StreamReader) -> bytes:
        """One line without its ending (CRLF or a bare LF)."""
        try:
            data = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:  # longer than the stream's own limit
            raise AnswerTooLarge(self.cap) from None
        self.spend(len(data))
        return data[:-2] if data.endswith(b"\r\n") else data[:-1]

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


async def read_response(
    reader: asyncio.StreamReader, method: str, cap: int = MAX_ANSWER
) -> tuple[Response, bool]:
    """One answer (1xx interim answers skipped) and whether the connection may be reused.

    Everything read counts against `cap`: AnswerTooLarge past it. ValueError for an answer
    that is not HTTP/1.x or whose framing is ambiguous.
    """
    budget = Budget(cap)
    while True:
        line = await budget.readline(reader)
        matched = _STATUS_LINE.fullmatch(line)
        if matched is None:
            raise ValueError(f"not an HTTP/1.x status line: {line[:80]!r}")
        status = int(matched.group(2))
        headers, lengths = await _read_fields(reader, budget)
        if not 100 <= status < 200 or status == 101:
            break
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
    if lengths:
        body = await budget.readexactly(reader, _content_length(lengths))
        return Response(status, headers, body), keep_alive
    # The body ends with the stream.
    return Response(status, headers, await budget.read_to_eof(reader)), False


async def _read_fields(reader: asyncio.StreamReader, budget: Budget) -> tuple[Headers, list[str]]:
    """The header fields up to the empty line, obs-folds unfolded; every Content-Length value
    apart, since a repeated field would otherwise keep only its last value."""
    headers = Headers()
    lengths: list[str] = []
    name = ""
    while line := await budget.readline(reader):
        if line[:1] in (b" ", b"\t"):
            if not name:
                raise ValueError("a header continuation line before any header field")
            # obs-fold: the value goes on after one space (RFC 9112 §5.2).
            headers[name] = f"{headers[name]} {line.strip().decode('latin-1')}".strip()
            if name == "content-length":
                lengths[-1] = headers[name]
            continue
        raw_name, colon, value = line.partition(b":")
        if not colon or not raw_name or raw_name != raw_name.strip():
            raise ValueError(f"malformed header field: {line[:80]!r}")
        name = raw_name.decode("latin-1").lower()
        headers[name] = value.strip().decode("latin-1")
        if name == "content-length":
            lengths.append(headers[name])
    return headers, lengths


def _content_length(values: list[str]) -> int:
    """The body's length from every Content-Length value: a list of one repeated number is
    that number; different numbers are an error, never a guess (RFC 9112 §6.3)."""
    numbers = {number.strip() for value in values for number in value.split(",")}
    if len(numbers) != 1:
        raise ValueError(f"conflicting Content-Length values: {sorted(numbers)[:4]}")
    [number] = numbers
    if not number.isdigit():
        raise ValueError(f"bad Content-Length: {number[:40]!r}")
    return int(number)


async def _read_chunked(reader: asyncio.StreamReader, budget: Budget) -> bytes:
    parts = []
    while True:
        size_line = await budget.readline(reader)
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while await budget.readline(reader):  # trailers, ignored
                pass
            return b"".join(parts)
        parts.append(await budget.readexactly(reader, size))
        if await budget.readline(reader):
            raise ValueError("chunk not followed by a line ending")
