"""The physical limits the engine is read against: raw HTTP POSTs to the sink and raw COPY.

`http_ceiling` POSTs Twilio-form requests to the sink from 64 keep-alive connections on plain
asyncio streams (requests built before the clock starts). `threads_ceiling` and `httpx_ceiling`
do the same through httpx (threads with a client each, as the send job does; AsyncClient) to
show what the client library costs. `copy_ceiling` COPYs the same envelope rows, preformatted,
into a scratch table shaped like `envelopes` (its indexes and unique constraint included).
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

import httpx
import orjson
import psycopg

from bench.recipients import Recipient


def twilio_forms(
    items: Sequence[Recipient], sender: str, body: str, callback_base: str
) -> list[dict[str, str]]:
    """The form the engine sends for each text (To, From, Body, StatusCallback)."""
    return [
        {
            "To": item.e164,
            "From": sender,
            "Body": body.replace("{{first-name}}", str(item.meta["first-name"])),
            "StatusCallback": f"{callback_base}/callbacks/twilio/{index:022d}",
        }
        for index, item in enumerate(items)
    ]


async def _raw(
    url: str, auth: tuple[str, str], forms: list[dict[str, str]], concurrency: int
) -> tuple[float, int]:
    parts = urlsplit(url)
    credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    requests = []
    for form in forms:
        body = urlencode(form).encode()
        requests.append(
            (
                f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Authorization: Basic {credentials}\r\nAccept: application/json\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
    pending = iter(requests)
    created = 0

    async def connection() -> None:
        nonlocal created
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            for request in pending:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                at = head.lower().find(b"content-length:")
                length = int(head[at + 15 : head.find(b"\r\n", at)]) if at >= 0 else 0
                await reader.readexactly(length)
                created += head.startswith(b"HTTP/1.1 201")
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.monotonic() - started, created


def http_ceiling(
    url: str, auth: tuple[str, str], forms: list[dict[str, str]], concurrency: int = 64
) -> tuple[float, int]:
    """(seconds, requests answered 201) for POSTing every form on raw asyncio streams."""
    return asyncio.run(_raw(url, auth, forms, concurrency))


async def _httpx(
    url: str, auth: tuple[str, str], forms: list[dict[str, str]], concurrency: int
) -> tuple[float, int]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    pending = iter(forms)
    created = 0
    async with httpx.AsyncClient(auth=auth, limits=limits, timeout=30) as client:

        async def loop() -> None:
            nonlocal created
            for form in pending:
                response = await client.post(url, data=form)
                created += response.status_code == 201

        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        return time.monotonic() - started, created


def httpx_ceiling(
    url: str, auth: tuple[str, str], forms: list[dict[str, str]], concurrency: int = 64
) -> tuple[float, int]:
    """(seconds, requests answered 201) for POSTing every form through httpx.AsyncClient."""
    return asyncio.run(_httpx(url, auth, forms, concurrency))


def threads_ceiling(
    url: str, auth: tuple[str, str], forms: list[dict[str, str]], threads: int = 32
) -> tuple[float, int]:
    """(seconds, requests answered 201) for POSTing every form from `threads` threads, each
    with its own keep-alive httpx.Client: the send job's client design, in one process."""
    pending = iter(forms)
    lock = threading.Lock()
    created = [0] * threads

    def loop(index: int) -> None:
        with httpx.Client(auth=auth, timeout=30) as client:
            while True:
                with lock:
                    form = next(pending, None)
                if form is None:
                    return
                created[index] += client.post(url, data=form).status_code == 201

    workers = [threading.Thread(target=loop, args=(index,)) for index in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.monotonic() - started, sum(created)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy_ceiling(
    database_url: str,
    items: Sequence[Recipient],
    *,
    account_id: str,
    engagement_id: str,
    activity_id: str,
    chunk: int = 10_000,
) -> float:
    """Seconds to COPY the rows, one transaction per `chunk` like the API's bulk requests."""
    from campaign.models import new_ids

    now = datetime.now(UTC).isoformat()
    ids = new_ids(len(items))
    lines = [
        "\t".join(
            (
                id_,
                account_id,
                engagement_id,
                activity_id,
                item.e164,
                _escape(orjson.dumps(item.meta).decode()),
                "pending",
                "0",
                now,
                now,
            )
        )
        + "\n"
        for id_, item in zip(ids, items, strict=True)
    ]
    blocks = [
        "".join(lines[start : start + chunk]).encode() for start in range(0, len(lines), chunk)
    ]
    del lines
    columns = (
        "id, account_id, engagement_id, activity_id, phone_number, meta, status, "
        "retry_attempts, created_at, updated_at"
    )
    with psycopg.connect(database_url) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_copy")
        connection.execute("CREATE TABLE bench_copy (LIKE envelopes INCLUDING ALL)")
        connection.commit()
        started = time.monotonic()
        for block in blocks:
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY bench_copy ({columns}) FROM STDIN") as copy,
            ):
                copy.write(block)
            connection.commit()
        elapsed = time.monotonic() - started
        connection.execute("DROP TABLE bench_copy")
        connection.commit()
    return elapsed
