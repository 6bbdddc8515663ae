"""Sending through Twilio's Messages API: one POST per text, with an error policy that never
sends a text twice.

Retryable (Twilio surely lacks it): no connection, 429, 500/503. Ambiguous (it may have it): no
answer after sending, 502/504. Other 4xx are final with Twilio's code (21610: opted out)."""

from __future__ import annotations

import base64
import math
import time
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from campaign.http_client import HttpTransport, NoAnswer, NotSent, Response
from campaign.providers import fields
from campaign.providers.base import (
    LoopProvider,
    OutboundMessage,
    ProviderError,
    SendResult,
)

API_VERSION = "2010-04-01"
DEFAULT_RETRY_AFTER = 1.0

# A gateway error means an intermediary gave up on Twilio's backend, which may have created the
# message anyway; 500 and 503 are Twilio itself saying it did not.
_AMBIGUOUS_STATUSES = frozenset({502, 504})


class TwilioProvider(LoopProvider):
    """Sends through Twilio's REST API, up to `max_connections` requests at once."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_base: str = "https://api.twilio.com",
        connect_timeout: float,
        read_timeout: float,
        max_connections: int = 64,
    ) -> None:
        super().__init__(concurrency=max_connections)
        self.account_sid = account_sid
        self.messages_url = (
            f"{api_base.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}/Messages.json"
        )
        parts = urlsplit(self.messages_url)
        self._target = parts.path + (f"?{parts.query}" if parts.query else "")
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode("ascii")
        # No retries and no proxy from the environment: TWILIO_API_BASE is exactly where each
        # request goes, once. Waiting for a free connection can last as long as another send.
        self._transport = HttpTransport(
            self.messages_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_connections=max_connections,
            pool_timeout=connect_timeout + read_timeout,
            headers={
                "Authorization": f"Basic {credentials}",
                "Accept": "application/json",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )

    async def _send(self, message: OutboundMessage) -> SendResult:
        """POST one message; map every outcome onto SendResult or a ProviderError with policy."""
        form = {"To": message.to, "From": message.from_, "Body": message.body}
        if message.receipt_url:
            form["StatusCallback"] = message.receipt_url
        if message.valid_for is not None:
            form["ValidityPeriod"] = str(message.valid_for)  # Twilio takes 1 to 36,000 s
        try:
            response = await self._transport.request(
                "POST", self._target, body=urlencode(form).encode()
            )
        except NotSent as exc:
            # Twilio cannot hold a complete request, so it cannot have created the message.
            raise ProviderError(_NOT_SENT_CODES[exc.stage], _describe(exc), retryable=True) from exc
        except NoAnswer as exc:
            # Read timeout, reset, hang-up before the answer: the request was sent, so Twilio
            # may have accepted it. Never resend.
            raise ProviderError("no-answer", _describe(exc), ambiguous=True) from exc
        except ValueError as exc:  # a TWILIO_API_BASE that cannot form a request; nothing sent
            raise ProviderError("request", f"invalid request: {_describe(exc)}") from exc
        return _result(response)

    async def _close(self) -> None:
        await self._transport.close()


_NOT_SENT_CODES = {"pool": "pool", "connect": "connect", "send": "write"}


def _result(response: Response) -> SendResult:
    status = response.status
    payload = _json_object(response.body)
    if 200 <= status < 300:
        # A 2xx is acceptance even if the body is unreadable: the status callback carries our
        # text id, so it can still settle the text without Twilio's sid (or with one that is
        # not a sid: too long, or not a string).
        return SendResult(provider_message_id=fields.message_id(payload.get("sid")), status="sent")
    code = fields.error_code(payload.get("code") or status, fallback=str(status))
    detail = fields.error_detail(
        str(payload.get("message") or f"HTTP {status} {_phrase(status)}".strip())
    )
    if status == 429:
        raise ProviderError(
            code,
            detail,
            retryable=True,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    if status in _AMBIGUOUS_STATUSES:
        raise ProviderError(code, detail, ambiguous=True)
    if status >= 500:
        raise ProviderError(code, detail, retryable=True)
    raise ProviderError(code, detail)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def parse_retry_after(value: str | None, *, default: float = DEFAULT_RETRY_AFTER) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date; RFC 9110)."""
    if not value:
        return default
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        if when.tzinfo is None:  # an HTTP date is always GMT
            return default
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return default
    return max(seconds, 0.0)
