"""The console provider: each message goes to the worker's log. The quick start's carrier."""

from __future__ import annotations

import logging

from campaign.providers.base import LoopProvider, OutboundMessage, SendResult

log = logging.getLogger("campaign.console")


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
