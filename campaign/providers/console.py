"""The console provider: each message goes to the worker's log. The quick start's carrier."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from campaign.providers.base import LoopProvider, OutboundMessage, SendResult

log = logging.getLogger("campaign.console")

# The console reports nothing after the send, so no carrier receipts come in; its incoming
# texts are typed at `campaign inbound FROM TO BODY`, not posted.
RECEIPTS = None
INBOUND = None
# The console refuses no one.
OPT_OUT_CODES: frozenset[str] = frozenset()


def inbound_url(config: Mapping[str, Any]) -> str | None:
    """No carrier posts to the console: `campaign inbound` fakes its incoming texts."""
    return None


class ConsoleProvider(LoopProvider):
    """Writes `SMS from -> to: body` to the log and reports the message sent."""

    name = "console"

    def __init__(self) -> None:
        super().__init__(concurrency=1)

    async def _send(self, message: OutboundMessage) -> SendResult:
        log.info(
            "SMS %s -> %s: %s",
            message.from_,
            message.to,
            message.body,
            extra={"text_id": message.text_id},
        )
        return SendResult(provider_message_id=f"console-{message.text_id}")


def build(config: Mapping[str, Any]) -> ConsoleProvider:
    return ConsoleProvider()


def receipt_url(config: Mapping[str, Any], text_id: str) -> str | None:
    """The console reports nothing after the send."""
    return None
