"""The carriers, chosen by `SMS_PROVIDER`: console (default), twilio, kannel.

Each carrier is one module or package that knows everything about it: `build(config)` (its
Provider, which sends), `receipt_url(config, text_id)` (where it should report on a text),
`RECEIPTS` (the route its receipts come to, a `ReceiptRoute`, or None) and, when it has one,
`parse_receipt(request, text_id, config)`, which checks an `IncomingRequest` and returns a
neutral `Receipt` (`incoming.py`); likewise `INBOUND` (an `InboundRoute`, or None) and
`parse_inbound(request, config)` for the texts recipients send us, as an `InboundText`, with
`inbound_url(config)`, where the operator tells the carrier to deliver them; and
`OPT_OUT_CODES`, the error codes by which the carrier says a recipient opted out with it.
Nothing else switches on the carrier's name.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from campaign.config import check_provider
from campaign.providers.base import (
    NotAttempted,
    OutboundMessage,
    Provider,
    ProviderError,
    SendResult,
    Timed,
)

__all__ = [
    "NotAttempted",
    "OutboundMessage",
    "Provider",
    "ProviderError",
    "SendResult",
    "Timed",
    "build_provider",
    "carrier",
    "receipt_url",
]


# The carriers by SMS_PROVIDER: the only switch on it. Each is imported when first used, and
# brings its HTTP stack only when it builds a provider (the web process only reads receipts).
CARRIERS = {
    "console": "campaign.providers.console",
    "twilio": "campaign.providers.twilio",
    "kannel": "campaign.providers.kannel",
}


def carrier(name: str) -> ModuleType:
    """The module of the carrier called `name` (a key of CARRIERS)."""
    return importlib.import_module(CARRIERS[name])


def _carrier(config: Mapping[str, Any]) -> ModuleType:
    return carrier(config["SMS_PROVIDER"])


def build_provider(config: Mapping[str, Any]) -> Provider:
    """The configured provider, with its timeouts and connection pool."""
    check_provider(config)
    provider: Provider = _carrier(config).build(config)
    return provider


def receipt_url(config: Mapping[str, Any], text_id: str) -> str | None:
    """Where the configured carrier should send its receipts for `text_id` (None: nowhere)."""
    url: str | None = _carrier(config).receipt_url(config, text_id)
    return url


def inbound_url(config: Mapping[str, Any]) -> str | None:
    """Where the configured carrier should deliver incoming texts (None: it cannot)."""
    url: str | None = _carrier(config).inbound_url(config)
    return url


def opt_out_codes(config: Mapping[str, Any]) -> frozenset[str]:
    """The configured carrier's error codes that mean the recipient opted out with it."""
    codes: frozenset[str] = _carrier(config).OPT_OUT_CODES
    return codes
