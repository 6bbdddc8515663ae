"""campaign/http_client/answers.py on bytes alone (an asyncio StreamReader fed by the test, no
socket): the framing it accepts, the framing it refuses, and the cap."""

from __future__ import annotations

import asyncio

import pytest

from campaign.http_client.answers import AnswerTooLarge, Response, read_response


def _read(raw: bytes, method: str = "GET", cap: int = 64 * 1024) -> tuple[Response, bool]:
    async def run() -> tuple[Response, bool]:
        reader = asyncio.StreamReader(limit=cap)
        reader.feed_data(raw)
        reader.feed_eof()
        return await read_response(reader, method, cap)

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("raw", "status", "body", "keep_alive"),
    [
        (b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", 201, b"ok", True),
        (b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 200, b"ok", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 200, b"", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, b"x", False),
        (
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
            200,
            b"x",
            True,
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nto the end", 200, b"to the end", False),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 204, b"", True),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n",
            200,
            b"abc",
            True,
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc", 200, b"abc", True),
    ],
    ids=[
        "plain",
        "bare-lf",
        "close",
        "http-1.0",
        "http-1.0-keep-alive",
        "to-eof",
        "interim",
        "chunked-with-trailer",
        "length-list",
    ],
)
def test_answers_are_read_with_their_framing(
    raw: bytes, status: int, body: bytes, keep_alive: bool
) -> None:
    response, reusable = _read(raw)

    assert (response.status, response.body, reusable) == (status, body, keep_alive)


def test_an_obs_fold_continues_its_field_as_one_space() -> None:
    response, _ = _read(b"HTTP/1.1 200 OK\r\nX-A: one\r\n  two\r\nContent-Length: 0\r\n\r\n")

    assert response.headers.get("x-a") == "one two"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "conflicting"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab", "conflicting"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"SMTP ready\r\n\r\n", "not an HTTP/1.x status line"),
        (b"HTTP/1.1 200 OK\r\n  folded first\r\n\r\n", "continuation line before any"),
        (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "malformed header field"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", "chunk not"),
    ],
    ids=[
        "two-lengths",
        "length-list",
        "negative",
        "not-http",
        "fold-first",
        "no-colon",
        "chunk-end",
    ],
)
def test_ambiguous_or_broken_answers_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _read(raw)


def test_an_answer_past_its_cap_is_refused_before_its_body_is_read() -> None:
    with pytest.raises(AnswerTooLarge, match="larger than 100 bytes"):
        _read(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n" + b"x" * 500, cap=100)
