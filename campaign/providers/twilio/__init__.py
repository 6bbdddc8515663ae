"""Twilio: texts out through the Messages API (`sending.py`), status callbacks in
(`receipts.py`) and incoming messages in (`inbound.py`), both signed the way `signatures.py`
checks (`signed.py`). The registry
(`providers/__init__.py`) reaches it through these names only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaign.providers.base import Provider, connection_settings
from campaign.providers.twilio.inbound import INBOUND, inbound_url, parse_inbound
from campaign.providers.twilio.receipts import RECEIPTS, parse_receipt, receipt_url

__all__ = [
    "INBOUND",
    "OPT_OUT_CODES",
    "RECEIPTS",
    "build",
    "inbound_url",
    "parse_inbound",
    "parse_receipt",
    "receipt_url",
]

# Twilio's "Attempt to send to unsubscribed recipient": the recipient texted STOP to Twilio
# itself (its Advanced Opt-Out), so the carrier refuses our texts to them. We record it as an
# opt-out of the account, so no later campaign tries again.
OPT_OUT_CODES = frozenset({"21610"})


def build(config: Mapping[str, Any]) -> Provider:
    """The provider for these settings; the HTTP stack is imported only where texts are sent."""
    from campaign.providers.twilio.sending import TwilioProvider

    return TwilioProvider(
        account_sid=config["TWILIO_ACCOUNT_SID"],
        auth_token=config["TWILIO_AUTH_TOKEN"],
        api_base=config["TWILIO_API_BASE"],
        **connection_settings(config),
    )
