"""What every provider speaks: an outbound message in, a SendResult out, or a ProviderError.

A provider call is one network request with connect and read timeouts and no retry loop of its
own: whether to try again is decided by the send job from `ProviderError.retryable`, because
only it knows how many attempts a text has had.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutboundMessage:
    """One rendered text, addressed, with the id that the carrier's callbacks will carry."""

    text_id: str
    to: str
    from_: str
    body: str
    status_callback_url: str | None = None


@dataclass(frozen=True)
class SendResult:
    """The carrier took the message; `status` is our word for where it is now (usually sent)."""

    provider_message_id: str | None
    status: str = "sent"


class ProviderError(Exception):
    """A send that did not go through, or may have.

    `retryable`: the carrier certainly did not take it (refused connection, 429, 5xx), so it may
    be tried again after `retry_after` seconds. `ambiguous`: the carrier may have taken it (the
    answer never came), so it must not be sent again; the text becomes `unknown` until a status
    callback settles it. Neither: a final refusal, the text is `failed` with `code`/`detail`.
    """

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        retryable: bool = False,
        ambiguous: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail
        self.retryable, self.ambiguous, self.retry_after = retryable, ambiguous, retry_after


class Provider(Protocol):
    """A carrier connection; `send` is called from many threads at once and must be thread-safe."""

    name: str

    def send(self, message: OutboundMessage) -> SendResult:
        """Hand one message to the carrier, or raise ProviderError."""
        ...

    def close(self) -> None:
        """Release connections (called when a worker stops)."""
        ...
