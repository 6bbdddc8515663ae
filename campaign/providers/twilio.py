"""Twilio's Messages API: one POST per text, with an error policy that never sends a text twice.

Retryable (Twilio surely lacks it): no connection, 429, 500/503. Ambiguous (it may have it): no
answer after sending, 502/504. Other 4xx are final with Twilio's code (21610: opted out)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson

from campaign.http_client import HttpTransport, NoAnswer, NotSent, Response
from campaign.providers import fields
from campaign.providers.base import (
    LoopProvider,
    OutboundMessage,
    ProviderError,
    SendResult,
    connection_settings,
)
from campaign.receipt_urls import TWILIO_PATH

API_VERSION = "2010-04-01"
DEFAULT_RETRY_AFTER = 1.0

# Twilio MessageStatus -> our text status. Everything Twilio says before the handset answers is
# "sent" to us: the message is in the carrier's hands. `canceled` only happens to a message
# scheduled at Twilio that someone cancelled there (we never schedule at Twilio), so it was not
# delivered through no decision of ours: "failed" (the receipt route records the Twilio word
# as the reason). Our own "cancelled" means the campaign stopped the text before it left us.
# Inbound words (receiving/received) and partially_delivered are left out: a status missing here
# changes nothing.
TWILIO_STATUSES: dict[str, str] = {
    "accepted": "sent",
    "scheduled": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}

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


# X-Twilio-Signature, as Twilio documents it (https://www.twilio.com/docs/usage/security,
# "Validating requests are coming from Twilio"): take the full URL Twilio requested, append each
# POST parameter sorted by name as name + value with no delimiters, HMAC-SHA1 it with the auth
# token and base64 the digest. A name sent more than once contributes each of its values, sorted
# (twilio-python's RequestValidator.compute_signature: `for param_name in sorted(set(params))`,
# then `for value in sorted(set(values))`). The documentation's example (token 12345,
# https://mycompany.com/myapp.php?foo=1&bar=2) signs to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
# Webhooks signed with a SharedKey carry `X-Twilio-Webhooks-Signature-Settings:
# key=<key id>,algorithm=<HMAC_SHA1|HMAC_SHA256>`; without it, the signature is HMAC-SHA1 with
# the account's auth token. twilio-python's RequestValidator is the oracle (tests only).
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
HMAC_SHA1, HMAC_SHA256 = "HMAC_SHA1", "HMAC_SHA256"
_DIGESTS = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}


def signature_algorithm(settings_header: str | None) -> str:
    """The algorithm a signature-settings header names (HMAC_SHA1 when it names none)."""
    for part in (settings_header or "").split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "algorithm" and value.strip():
            return value.strip().upper()
    return HMAC_SHA1


def twilio_signature(
    secret: str, url: str, params: Mapping[str, str], algorithm: str = HMAC_SHA1
) -> str:
    """Base64 HMAC of the URL followed by the sorted parameters, keyed by `secret`."""
    signed = url + "".join(
        name + value for name in sorted(set(params)) for value in sorted(set(_values(params, name)))
    )
    digest = hmac.new(secret.encode(), signed.encode(), _DIGESTS[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_signature(
    secret: str,
    url: str,
    params: Mapping[str, str],
    signature: str | None,
    algorithm: str = HMAC_SHA1,
) -> bool:
    """True when `signature` is Twilio's signature of this URL and these parameters under
    `algorithm` (an algorithm we do not know is never valid).

    Like Twilio's own validator, the URL is also tried without its port (or with the default one
    added), because Twilio is inconsistent about ports when signing; the HMAC still needs the
    secret.
    """
    if not signature or algorithm not in _DIGESTS:
        return False
    candidates = {url, *_port_variants(url)}
    # Bytes, because compare_digest refuses a str with non-ASCII characters (a forged header).
    given = signature.encode("utf-8", "replace")
    # Compare against every candidate (no early exit), in constant time each.
    matches = [
        hmac.compare_digest(twilio_signature(secret, candidate, params, algorithm).encode(), given)
        for candidate in sorted(candidates)
    ]
    return any(matches)


def _values(params: Mapping[str, str], name: str) -> Iterable[str]:
    # werkzeug's MultiDict (Flask's request.form) maps a repeated name to its first value only.
    getlist = getattr(params, "getlist", None)
    return getlist(name) if callable(getlist) else [params[name]]


def _port_variants(url: str) -> list[str]:
    # twilio-python's RequestValidator.validate tries the URL without its port and with the
    # scheme's default port; do the same.
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return []
    if default is None or not parts.hostname:
        return []
    userinfo, _, hostport = parts.netloc.rpartition("@")
    prefix = f"{userinfo}@" if userinfo else ""
    host = hostport.rsplit(":", 1)[0] if port is not None else hostport
    port_text = "" if port is not None else f":{default}"
    return [urlunsplit(parts._replace(netloc=f"{prefix}{host}{port_text}"))]


def build(config: Mapping[str, Any]) -> TwilioProvider:
    """The provider for these settings (the registry, providers/__init__.py, calls this)."""
    return TwilioProvider(
        account_sid=config["TWILIO_ACCOUNT_SID"],
        auth_token=config["TWILIO_AUTH_TOKEN"],
        api_base=config["TWILIO_API_BASE"],
        **connection_settings(config),
    )


def receipt_url(config: Mapping[str, Any], text_id: str) -> str | None:
    """The StatusCallback for `text_id`: Twilio signs what it posts there."""
    base = config.get("PUBLIC_BASE_URL")
    return base + TWILIO_PATH.format(text_id=text_id) if base else None
