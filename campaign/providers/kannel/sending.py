"""Sending through Kannel: one GET to smsbox's sendsms interface per text, with a delivery-report
URL that Kannel calls back with the report type in place of `%d` (`receipts.py`).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from campaign.http_client import Headers, HttpTransport, NoAnswer, NotSent
from campaign.providers import fields
from campaign.providers.base import (
    LoopProvider,
    OutboundMessage,
    ProviderError,
    SendResult,
)
from campaign.providers.kannel.receipts import KANNEL_DLR_MASK, kannel_dlr_url
from campaign.templates_engine import count_segments

KANNEL_CODING_UCS2 = "2"


class KannelProvider(LoopProvider):
    """Sends through Kannel's sendsms HTTP interface, up to `max_connections` requests at once.

    Kannel answers 202 `0: Accepted for delivery` or `3: Queued for later delivery` when it took
    the message; it has no message id to return, so delivery reports are matched by the text id
    that `receipt_url` carries.
    """

    name = "kannel"

    def __init__(
        self,
        *,
        sendsms_url: str,
        username: str,
        password: str,
        connect_timeout: float,
        read_timeout: float,
        dlr_mask: int = KANNEL_DLR_MASK,
        max_connections: int = 64,
    ) -> None:
        if not 0 < dlr_mask <= 31:
            raise ValueError(f"dlr_mask must be a combination of 1, 2, 4, 8 and 16, not {dlr_mask}")
        super().__init__(concurrency=max_connections)
        self.sendsms_url, self.username, self.password = sendsms_url, username, password
        self.dlr_mask = dlr_mask
        parts = urlsplit(sendsms_url)
        # The query string of each request is appended to any the configured URL already has.
        self._target = (parts.path or "/") + (f"?{parts.query}&" if parts.query else "?")
        self._transport: HttpTransport | None = None
        self._config_error: str | None = None
        try:
            # No retries (a retry after a lost answer could send the text twice: the send job
            # decides from ProviderError.retryable) and no proxy from the environment.
            self._transport = HttpTransport(
                sendsms_url,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_connections=max_connections,
                pool_timeout=connect_timeout,
            )
        except ValueError as error:
            # Reported by each send, as before: a worker still starts and records why texts fail.
            self._config_error = str(error)

    async def _send(self, message: OutboundMessage) -> SendResult:
        """Submit one message; ProviderError says whether it may be tried again."""
        if self._transport is None:
            raise ProviderError("kannel-config", f"bad KANNEL_SENDSMS_URL: {self._config_error}")
        try:
            reply = await self._transport.request(
                "GET", self._target + urlencode(self._params(message))
            )
        except ValueError as error:  # a URL that cannot form a request line; nothing was sent
            raise ProviderError("kannel-config", f"bad KANNEL_SENDSMS_URL: {error}") from error
        except NotSent as error:
            # No connection, or the request was not completely written: Kannel cannot have it.
            raise ProviderError("kannel-unreachable", str(error), retryable=True) from error
        except NoAnswer as error:
            # The request went out and the answer never came: Kannel may have queued it.
            raise ProviderError("kannel-no-answer", str(error), ambiguous=True) from error
        detail = fields.error_detail(reply.body.decode("utf-8", "replace").strip())
        if 200 <= reply.status < 300:
            return SendResult(provider_message_id=None, status="sent")
        code = f"kannel-{reply.status}"
        if reply.status == 429 or reply.status >= 500:
            # Kannel's 503 ("4: Temporal failure") and other 5xx are refusals before queueing.
            raise ProviderError(
                code, detail, retryable=True, retry_after=_retry_after(reply.headers)
            )
        raise ProviderError(code, detail)

    async def _close(self) -> None:
        if self._transport is not None:
            await self._transport.close()

    def _params(self, message: OutboundMessage) -> dict[str, str]:
        params = {
            "username": self.username,
            "password": self.password,
            "from": message.from_,
            "to": message.to,
            "text": message.body,
            "charset": "UTF-8",
        }
        if count_segments(message.body).encoding == "UCS-2":
            params["coding"] = KANNEL_CODING_UCS2
        if message.valid_for is not None:
            # sendsms's `validity` is in minutes: whole minutes left, at least one (the SMSC
            # then tries for at most a minute past the engagement's validity period).
            params["validity"] = str(max(1, message.valid_for // 60))
        if message.receipt_url:
            params["dlr-mask"] = str(self.dlr_mask)
            # urlencode percent-encodes the whole value, as Kannel requires of a dlr-url.
            params["dlr-url"] = kannel_dlr_url(message.receipt_url)
        return params


def _retry_after(headers: Headers) -> float | None:
    """Retry-After in seconds; the HTTP-date form is ignored (Kannel never sends it)."""
    value = (headers.get("retry-after") or "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
