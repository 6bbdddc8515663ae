"""SMS providers, chosen by `SMS_PROVIDER`: console (default), twilio, kannel."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
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
    "receipt_url",
]


# The carriers by SMS_PROVIDER: the only switch on it. Each module has `build(config)` and
# `receipt_url(config, text_id)`, and is imported when first used (twilio and kannel bring an
# HTTP stack the console does not need).
CARRIERS = {
    "console": "campaign.providers.console",
    "twilio": "campaign.providers.twilio",
    "kannel": "campaign.providers.kannel",
}


def _carrier(config: Mapping[str, Any]) -> Any:
    return importlib.import_module(CARRIERS[config["SMS_PROVIDER"]])


def build_provider(config: Mapping[str, Any]) -> Provider:
    """The configured provider, with its timeouts and connection pool."""
    check_provider(config)
    provider: Provider = _carrier(config).build(config)
    return provider


def receipt_url(config: Mapping[str, Any], text_id: str) -> str | None:
    """Where the configured carrier should send its receipts for `text_id` (None: nowhere)."""
    url: str | None = _carrier(config).receipt_url(config, text_id)
    return url
