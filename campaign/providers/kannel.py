"""Kannel provider: one GET to smsbox's sendsms interface per text, with a delivery-report URL
that Kannel calls back with the report type in place of `%d`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from campaign.http_client import Headers, HttpTransport, NoAnswer, NotSent
from campaign.providers import fields
from campaign.providers.base import (
    LoopProvider,
    OutboundMessage,
    ProviderError,
    SendResult,
    connection_settings,
)
from campaign.receipt_urls import KANNEL_PATH, kannel_signature
from campaign.templates_engine import count_segments

KANNEL_DLR_STATUSES: dict[int, str] = {
    1: "delivered",
    2: "undelivered",
    4: "sent",
    8: "sent",
    16: "failed",
}
"""Kannel delivery-report types (the `dlr-mask` bits, substituted for `%d` in the dlr-url) mapped
to our text statuses, per Kannel's user guide:

- 1 `DLR_SUCCESS`, delivered to the phone: `delivered`.
- 2 `DLR_FAIL`, not delivered to the phone (expired, or refused by the network): `undelivered`.
- 4 `DLR_BUFFERED`, queued on the SMSC, an intermediate report: `sent`.
- 8 `DLR_SMSC_SUCCESS`, the SMSC accepted the submit: `sent`.
- 16 `DLR_SMSC_FAIL`, the SMSC rejected the submit, so it never left: `failed`.

A report carries exactly one type; any other value is not a Kannel DLR and should be ignored.
Kannel's fake SMSC (tests) reports 8 when it hands a message to fakesmsc and 1 right after it.
"""

KANNEL_DLR_MASK = 1 | 2 | 8 | 16
"""The reports we ask Kannel for: every one that can change a text. 4 (buffered) is left out:
it says no more than `sent`, so the receipt route refuses it as a report Kannel never sends."""

KANNEL_CODING_UCS2 = "2"


def kannel_dlr_url(receipt_url: str) -> str:
    """The dlr-url Kannel should fetch: our receipt URL plus `type=%d`.

    Kannel expands `%` escape codes anywhere in the URL (`%C` is the charset, `%D` the meta
    data...), so a percent-encoded byte in our own URL such as `%C3` would be rewritten; `%%` is
    Kannel's escape for a literal `%`, so every `%` of ours is doubled before `%d` is added.
    """
    separator = "&" if "?" in receipt_url else "?"
    return receipt_url.replace("%", "%%") + separator + "type=%d"


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


def build(config: Mapping[str, Any]) -> KannelProvider:
    """The provider for these settings (the registry, providers/__init__.py, calls this)."""
    return KannelProvider(
        sendsms_url=config["KANNEL_SENDSMS_URL"],
        username=config["KANNEL_USERNAME"],
        password=config["KANNEL_PASSWORD"],
        **connection_settings(config),
    )


def receipt_url(config: Mapping[str, Any], text_id: str) -> str | None:
    """The delivery-report URL for `text_id`, signed: Kannel does not sign what it fetches."""
    base = config.get("PUBLIC_BASE_URL")
    if not base:
        return None
    signature = kannel_signature(config["SECRET_KEY"], text_id)
    return base + KANNEL_PATH.format(text_id=text_id) + f"?sig={signature}"
