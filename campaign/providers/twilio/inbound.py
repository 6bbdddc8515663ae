"""Twilio's incoming messages: what it posts to the URL an operator pastes into a number's
"A message comes in" field (`From`, `To`, `Body`, `MessageSid`, form-encoded), read once its
signature is checked exactly as the status callbacks' are.

Twilio expects TwiML back; an empty `<Response/>` makes it send nothing itself (our replies
go out through the Messages API, as every text does, so they are recorded and paced).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaign.errors import ApiError
from campaign.providers import fields
from campaign.providers.incoming import InboundRoute, InboundText, IncomingRequest
from campaign.providers.twilio.signed import check_signed

INBOUND = InboundRoute(
    "/inbound/twilio",
    "POST",
    answer='<?xml version="1.0" encoding="UTF-8"?><Response/>',
    content_type="text/xml",
)


def inbound_url(config: Mapping[str, Any]) -> str | None:
    """What to paste into a Twilio number's "A message comes in" field; None without
    PUBLIC_BASE_URL (Twilio signs that URL, so it must be the one it requests)."""
    base = config.get("PUBLIC_BASE_URL")
    return base + INBOUND.path if base else None


def parse_inbound(request: IncomingRequest, config: Mapping[str, Any]) -> InboundText:
    """The message Twilio posted, once its signature is checked."""
    check_signed(request, config, "incoming messages")
    form = request.form
    message_id = fields.message_id(form.get("MessageSid") or form.get("SmsMessageSid"))
    if message_id is None:
        raise ApiError("MessageSid must be Twilio's id of the message", parameter="MessageSid")
    sender, to = fields.inbound_numbers(form, "From", "To", config["DEFAULT_REGION"])
    body = fields.inbound_body(form.get("Body", ""))
    if body is None:
        raise ApiError(
            f"Body is longer than {fields.MAX_INBOUND_BODY} characters", parameter="Body"
        )
    return InboundText(message_id, sender, to, body)
