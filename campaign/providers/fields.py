"""Bounds on what a carrier may put into a text: its message id, error code and error detail, and
the body of a text it reports as received.

A carrier's answers and receipts are untrusted input; every field copied from one passes here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from campaign.e164 import InvalidNumber, to_e164
from campaign.errors import ApiError

MAX_MESSAGE_ID = 64  # texts.provider_message_id is a VARCHAR(64)
MAX_ERROR_CODE = 32  # texts.error_code is a VARCHAR(32)
# Carriers explain an error in a sentence; a page of texts must not grow with a carrier's whim.
MAX_ERROR_DETAIL = 1024
TRUNCATED = " [truncated]"
# Twilio's limit for one incoming (concatenated) message, 10 segments of 160 GSM characters.
MAX_INBOUND_BODY = 1600

# Ids and codes are visible ASCII: anything else is not a real Twilio sid or error code, and
# control characters would be stored and shown to every reader of the text.
_TOKEN = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # keeps \t, \n and \r


def message_id(value: object) -> str | None:
    """The carrier's id for a message, or None when it is not a short visible-ASCII string.

    A text without an id still settles: its receipt URL carries our own text id.
    """
    if isinstance(value, str) and len(value) <= MAX_MESSAGE_ID and _TOKEN.fullmatch(value):
        return value
    return None


def error_code(value: object, fallback: str) -> str:
    """The carrier's error code as text, or `fallback` (ours, short) when it does not fit."""
    text = value if isinstance(value, str) else str(value) if isinstance(value, int) else ""
    if len(text) <= MAX_ERROR_CODE and _TOKEN.fullmatch(text):
        return text
    return fallback[:MAX_ERROR_CODE]


def error_detail(value: str) -> str:
    """A carrier's error text, without control characters and at most MAX_ERROR_DETAIL long."""
    value = _CONTROL.sub(" ", value)
    if len(value) <= MAX_ERROR_DETAIL:
        return value
    return value[: MAX_ERROR_DETAIL - len(TRUNCATED)] + TRUNCATED


def inbound_numbers(
    params: Mapping[str, str], sender: str, receiver: str, region: str
) -> tuple[str, str]:
    """A received text's sender and our number that received it, from the carrier's parameters
    `sender` and `receiver`: the sender in E.164 (else a 400 at its parameter: an opt-out must
    name a number), ours in E.164 or as given, cut to 32 characters, for the service to log and
    drop as no account's."""
    try:
        sent_by = to_e164(params.get(sender, ""), region)
    except InvalidNumber as exc:
        raise ApiError(f"{sender}: {exc}", parameter=sender) from None
    try:
        sent_to = to_e164(params.get(receiver, ""), region)
    except InvalidNumber:
        sent_to = params.get(receiver, "")[:32]
    return sent_by, sent_to


def inbound_body(value: str) -> str | None:
    """A received text's body as stored: as sent, any alphabet, with control characters other
    than tab and line breaks (a NUL cannot be stored) made spaces; None when it is longer than
    MAX_INBOUND_BODY, which no carrier delivers as one message."""
    if len(value) > MAX_INBOUND_BODY:
        return None
    return _BODY_CONTROL.sub(" ", value)
