"""SMS providers, chosen by `SMS_PROVIDER`: console (default), twilio, kannel."""

from __future__ import annotations

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
]


def build_provider(config: Mapping[str, Any]) -> Provider:
    """The configured provider, with its timeouts and connection pool."""
    check_provider(config)
    name = config["SMS_PROVIDER"]
    if name == "twilio":
        from campaign.providers.twilio import TwilioProvider

        return TwilioProvider(
            account_sid=config["TWILIO_ACCOUNT_SID"],
            auth_token=config["TWILIO_AUTH_TOKEN"],
            api_base=config["TWILIO_API_BASE"],
            connect_timeout=config["PROVIDER_CONNECT_TIMEOUT"],
            read_timeout=config["PROVIDER_READ_TIMEOUT"],
            max_connections=config["SEND_CONCURRENCY"],
        )
    if name == "kannel":
        from campaign.providers.kannel import KannelProvider

        return KannelProvider(
            sendsms_url=config["KANNEL_SENDSMS_URL"],
            username=config["KANNEL_USERNAME"],
            password=config["KANNEL_PASSWORD"],
            connect_timeout=config["PROVIDER_CONNECT_TIMEOUT"],
            read_timeout=config["PROVIDER_READ_TIMEOUT"],
            max_connections=config["SEND_CONCURRENCY"],
        )
    from campaign.providers.console import ConsoleProvider

    return ConsoleProvider()
