"""Twilio's receipts (its status callbacks): the StatusCallback URL we give it for each text, and
reading what it posts there once its signature is checked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaign.errors import ApiError
from campaign.providers import fields
from campaign.providers.incoming import IncomingRequest, Receipt, ReceiptRoute
from campaign.providers.twilio.signed import check_signed

RECEIPTS = ReceiptRoute("/callbacks/twilio/{text_id}", "POST")

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


def receipt_url(config: Mapping[str, Any], text_id: str) -> str | None:
    """The StatusCallback for `text_id`: Twilio signs what it posts there."""
    base = config.get("PUBLIC_BASE_URL")
    return RECEIPTS.url(base, text_id) if base else None


def parse_receipt(request: IncomingRequest, text_id: str, config: Mapping[str, Any]) -> Receipt:
    """The status Twilio posted for `text_id`, once its signature is checked."""
    check_signed(request, config, "receipts")
    reported = request.form.get("MessageStatus") or request.form.get("SmsStatus") or ""
    status = TWILIO_STATUSES.get(reported)
    if status is None:
        raise ApiError(f"unknown MessageStatus {reported[:40]!r}", parameter="MessageStatus")
    reported_code = request.form.get("ErrorCode")
    error_code = fields.error_code(reported_code, "twilio-error") if reported_code else None
    return Receipt(
        text_id,
        status,
        error_code=error_code,
        error_detail=f"Twilio reported error {error_code}" if error_code else None,
    )
