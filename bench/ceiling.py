"""The physical limits the engine is read against: raw HTTP POSTs to the sink and raw COPY.

`http_ceiling` POSTs Twilio-form requests to the sink from 64 keep-alive connections on plain
asyncio streams (requests built before the clock starts). `provider_ceiling` sends the same
messages through the engine's own TwilioProvider, in rounds, with nothing else around it: what
the engine's HTTP side alone can do, so the rest of the gap is the bookkeeping. `copy_ceiling`
COPYs the same envelope rows, preformatted, into a scratch table shaped like `envelopes` (its
indexes and unique constraint included).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

import orjson
import psycopg

from bench import loopback
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


def http_ceiling(
    url: str, auth: tuple[str, str], forms: list[dict[str, str]], concurrency: int = 64
) -> tuple[float, int]:
    """(seconds, requests answered 201) for POSTing every form on raw asyncio streams."""
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
    assert parts.hostname is not None and parts.port is not None
    return loopback.send_all(parts.hostname, parts.port, requests, concurrency, b"HTTP/1.1 201")


def provider_ceiling(
    api_base: str,
    auth: tuple[str, str],
    forms: list[dict[str, str]],
    concurrency: int = 32,
    round_size: int = 256,
) -> tuple[float, int]:
    """(seconds, messages accepted) for the engine's own TwilioProvider sending every form in
    rounds, as a send job does, with no database, rendering or pacing around it."""
    from campaign.providers import OutboundMessage, SendResult, Timed
    from campaign.providers.twilio.sending import TwilioProvider

    provider = TwilioProvider(
        account_sid=auth[0],
        auth_token=auth[1],
        api_base=api_base,
        connect_timeout=5.0,
        read_timeout=15.0,
        max_connections=concurrency,
    )
    messages = [
        OutboundMessage(f"{index:022d}", f["To"], f["From"], f["Body"], f["StatusCallback"])
        for index, f in enumerate(forms)
    ]
    accepted = 0
    try:
        started = time.monotonic()
        for start in range(0, len(messages), round_size):
            results = provider.send_many(
                [Timed(0.0, message) for message in messages[start : start + round_size]]
            )
            accepted += sum(isinstance(result, SendResult) for result in results)
        elapsed = time.monotonic() - started
    finally:
        provider.close()
    return elapsed, accepted


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
