"""Kannel's incoming texts: the get-url an operator pastes into smsbox's `sms-service` group, and
reading what smsbox fetches there.

Kannel signs nothing it fetches, so the URL carries a token only this service can produce: an
HMAC of a fixed label under SECRET_KEY, like the delivery reports' `sig` (`receipts.py`) but
never equal to one. Whoever holds the URL can deliver texts as Kannel could; keep it as secret
as the Kannel configuration it lives in. Kannel fills its escape codes into the rest (`ESCAPES`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from campaign.errors import ApiError, Forbidden
from campaign.providers import fields
from campaign.providers.incoming import InboundRoute, InboundText, IncomingRequest

# smsbox sends the answer of a get-url to the sender as a text unless the service's
# `max-messages = 0`; the answer is empty as well, so a misconfigured service sends nothing.
INBOUND = InboundRoute("/inbound/kannel", "GET", answer="", content_type="text/plain")

ESCAPES = "from=%q&to=%Q&hex=%e&charset=%C&id=%I"
"""What Kannel fills into the get-url for each message (its user guide, "Parameters (Escape
Codes)"; all in Kannel 1.4.5):

- `%q` / `%Q`: the sender and the receiving number, as `%p` / `%P` but with a leading `00`
  made `+`, so a number an SMSC writes `0044...` is international whatever the default region.
- `%e`: the message's bytes exactly as Kannel holds them, as hex digits. `%a` squeezes blanks
  and splits UCS-2 between bytes; `%b` keeps the bytes but URL-encodes them at up to three
  characters a byte, where hex takes two: ten UCS-2 segments (1,340 bytes) fit gunicorn's
  default request line (4,094 bytes) in hex, and not always URL-encoded.
- `%C`: the charset of those bytes: `UTF-8` for a 7-bit text (Kannel's own coding of GSM-7),
  `UTF-16BE` for a UCS-2 one (`UTF-8` when smsbox's `mo-recode` converted it), `8-BIT` for
  binary data, which is no text. It is derived from the coding (`%c`) when the SMSC gave no
  charset, so the coding adds nothing.
- `%I`: Kannel's id (a UUID) of the message, kept when smsbox fetches the URL again
  (`http-request-retry`) or bearerbox delivers a message smsbox never acknowledged: a retry
  stores one row. An SMSC that delivers the same message twice (its own retry) makes two
  Kannel messages with two ids, and two rows.
"""

_CODECS = {"UTF-8": "utf-8", "UTF-16BE": "utf-16-be"}
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")


def inbound_token(secret_key: str) -> str:
    """The get-url's `token`: 32 hex digits of HMAC-SHA256("kannel-inbound") under the key.

    A delivery report's `sig` is an HMAC of "kannel:" and a text id, so neither is the other.
    """
    digest = hmac.new(secret_key.encode(), b"kannel-inbound", hashlib.sha256)
    return digest.hexdigest()[:32]


def inbound_url(config: Mapping[str, Any]) -> str | None:
    """The `get-url` for smsbox's `sms-service` group: our route, the token and the escape codes
    Kannel fills in; None without PUBLIC_BASE_URL.

    Kannel expands `%` escape codes anywhere in the URL, so every `%` of our own (a
    percent-encoded byte of PUBLIC_BASE_URL) is doubled, `%%` being Kannel's literal `%`.
    """
    base = config.get("PUBLIC_BASE_URL")
    if not base:
        return None
    ours = f"{base}{INBOUND.path}?token={inbound_token(config['SECRET_KEY'])}"
    return ours.replace("%", "%%") + "&" + ESCAPES


def parse_inbound(request: IncomingRequest, config: Mapping[str, Any]) -> InboundText:
    """The message smsbox fetched the get-url for, once its token is checked."""
    query = request.query
    expected = inbound_token(config["SECRET_KEY"]).encode()
    if not hmac.compare_digest(expected, query.get("token", "").encode("utf-8", "replace")):
        raise Forbidden("the incoming text's token does not match", parameter="token")
    message_id = fields.message_id(query.get("id"))
    if message_id is None:
        raise ApiError("id must be Kannel's id of the message (%I)", parameter="id")
    sender, to = fields.inbound_numbers(query, "from", "to", config["DEFAULT_REGION"])
    return InboundText(message_id, sender, to, _body(query.get("hex", ""), query.get("charset")))


def _body(digits: str, charset: str | None) -> str:
    """The text from its bytes in hex and their charset, bounded as every received body."""
    codec = _CODECS.get((charset or "").upper())
    if codec is None:
        raise ApiError(
            "charset must be UTF-8 or UTF-16BE, Kannel's charsets of a text (%C)",
            parameter="charset",
        )
    if not _HEX.fullmatch(digits):
        raise ApiError("hex must be the message's bytes in hexadecimal (%e)", parameter="hex")
    try:
        text = bytes.fromhex(digits).decode(codec)
    except UnicodeDecodeError:
        raise ApiError(f"hex is not a text in {charset}", parameter="hex") from None
    body = fields.inbound_body(text)
    if body is None:
        raise ApiError(
            f"the text is longer than {fields.MAX_INBOUND_BODY} characters", parameter="hex"
        )
    return body
