"""SMS providers, chosen by `SMS_PROVIDER`: console (default), twilio, kannel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaign.config import ConfigError
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


def _require(config: Mapping[str, Any], *keys: str) -> None:
    missing = [key for key in keys if not config.get(key)]
    if missing:
        raise ConfigError(f"SMS_PROVIDER={config['SMS_PROVIDER']} needs {', '.join(missing)}")


def build_provider(config: Mapping[str, Any]) -> Provider:
    """The configured provider, with its timeouts and connection pool."""
    name = config["SMS_PROVIDER"]
    if name == "twilio":
        from campaign.providers.twilio import TwilioProvider

        _require(config, "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL")
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

        _require(
            config, "KANNEL_SENDSMS_URL", "KANNEL_USERNAME", "KANNEL_PASSWORD", "PUBLIC_BASE_URL"
        )
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
