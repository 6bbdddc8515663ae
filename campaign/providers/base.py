"""What every provider speaks: an outbound message in, a SendResult out, or a ProviderError.

A provider call is one network request with connect and read timeouts and no retry loop of its
own: whether to try again is decided by the send job from `ProviderError.retryable`, because
only it knows how many attempts a text has had.

A send job hands a provider a whole round at once (`send_many`): the provider's event loop keeps
up to `concurrency` requests in flight, each leaving no earlier than its sender's slot, and only
when the round's `may_send` check says yes for it, right before its request starts.
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboundMessage:
    """One rendered text, addressed, with the id that the carrier's receipts will carry."""

    text_id: str
    to: str
    from_: str
    body: str
    receipt_url: str | None = None
    # Whole seconds the carrier may still try to deliver it (the engagement's validity period
    # less what the text has waited), passed on so the carrier's own queue never sends it late
    # either; None: no limit.
    valid_for: int | None = None


@dataclass(frozen=True)
class SendResult:
    """The carrier took the message; `status` is our word for where it is now (usually sent)."""

    provider_message_id: str | None
    status: str = "sent"
    # When the carrier's answer came: each text's own `sent-at`, not its round's.
    accepted_at: datetime = field(default_factory=lambda: datetime.now(UTC), compare=False)


class ProviderError(Exception):
    """A send that did not go through, or may have.

    `retryable`: the carrier certainly did not take it (refused connection, 429, 5xx), so it may
    be tried again after `retry_after` seconds. `ambiguous`: the carrier may have taken it (the
    answer never came), so it must not be sent again; the text becomes `unknown` until a status
    receipt settles it. Neither: a final refusal, the text is `failed` with `code`/`detail`.
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


class NotAttempted(Exception):
    """The message's turn did not come before its round's `start_by`: nothing was sent."""


class Stopped(NotAttempted):
    """The round's `may_send` said no for the message before its turn (its engagement stopped,
    or its recipient opted out)."""


class Interrupted(Exception):
    """An exception from outside the round (a job timeout, a shutdown) stopped it midway.

    `results` is each message's fate: its result, NotAttempted when its request never started,
    or an ambiguous ProviderError when it was on the wire. The loop's tasks are cancelled before
    this is raised, so nothing more leaves later (a loop run again by `close()` would otherwise
    resume them).
    """

    def __init__(self, results: list[SendResult | Exception], cause: BaseException) -> None:
        super().__init__(f"the round was interrupted: {cause!r}")
        self.results, self.cause = results, cause


# How often a message waiting for a late slot asks `may_send` again, so a stopped round ends
# promptly instead of when its last slot comes.
STOP_POLL = 0.25


@dataclass(frozen=True)
class Timed:
    """A message and its slot: the `time.monotonic()` before which it must not leave."""

    not_before: float
    message: OutboundMessage


class Provider(Protocol):
    """A carrier connection, used by one thread (a send job's)."""

    name: str

    def send_many(
        self,
        items: Sequence[Timed],
        start_by: float = math.inf,
        may_send: Callable[[OutboundMessage], bool] | None = None,
    ) -> list[SendResult | Exception]:
        """Send each message at or after its slot and no later than `start_by` (monotonic),
        asking `may_send(message)` right before each request; per message, the result or the
        exception: NotAttempted when its turn came too late, Stopped when `may_send` said no, a
        ProviderError, or any other for a provider bug (the request may have gone out).
        Raises Interrupted when an exception from outside (a job timeout) cut the round short."""
        ...

    def send(self, message: OutboundMessage) -> SendResult:
        """Hand one message to the carrier now, or raise ProviderError."""
        ...

    def close(self) -> None:
        """Release connections (a later send raises RuntimeError)."""
        ...


class LoopProvider(ABC):
    """`send_many`, `send` and `close` on an event loop of the provider's own, around the
    coroutine `_send` (one message) that each provider implements.

    A fixed set of `concurrency` tasks takes the messages in order, so they leave in slot order
    and no more than `concurrency` requests are ever in flight. A message that cannot start by
    `start_by` (a slow carrier holds every task) is not sent at all, which bounds how long a
    round can keep its texts. The loop is made on first use, in the thread (and, under a
    forking worker, the process) that sends.
    """

    name: str

    def __init__(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        # The standard loop, not uvloop (-19 % CPU per request over TLS, measured): under
        # uvloop the exception of a Python signal handler (RQ's job timeout is SIGALRM) did not
        # interrupt a round in flight, so a timed-out job kept sending
        # (tests/providers/test_loop_provider.py, the interrupted-round test).
        self._runner = asyncio.Runner()
        self._closed = False

    @abstractmethod
    async def _send(self, message: OutboundMessage) -> SendResult:
        """Hand one message to the carrier, or raise ProviderError."""

    async def _close(self) -> None:  # noqa: B027 - optional: the console has nothing to close
        """Release what `_send` opened."""

    def send_many(
        self,
        items: Sequence[Timed],
        start_by: float = math.inf,
        may_send: Callable[[OutboundMessage], bool] | None = None,
    ) -> list[SendResult | Exception]:
        if self._closed:
            raise RuntimeError(f"the {self.name} provider is closed")
        results: list[SendResult | Exception | None] = [None] * len(items)
        started = [False] * len(items)
        try:
            self._runner.run(self._send_all(items, start_by, may_send, results, started))
        except BaseException as cause:
            self._cancel_lanes()
            raise Interrupted(_interrupted(results, started), cause) from cause
        return results  # type: ignore[return-value]  # every lane filled its indices

    def _cancel_lanes(self) -> None:
        """Cancel the tasks an interruption left pending, and let them end, before anything
        else runs on this loop."""
        loop = self._runner.get_loop()
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    def send(self, message: OutboundMessage) -> SendResult:
        [result] = self.send_many([Timed(0.0, message)])
        if isinstance(result, Exception):
            raise result
        return result

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.run(self._close())
        finally:
            self._runner.close()

    async def _send_all(
        self,
        items: Sequence[Timed],
        start_by: float,
        may_send: Callable[[OutboundMessage], bool] | None,
        results: list[SendResult | Exception | None],
        started: list[bool],
    ) -> None:
        pending = iter(enumerate(items))

        def go_ahead(message: OutboundMessage) -> bool:
            return may_send is None or may_send(message)

        async def lane() -> None:
            for index, item in pending:
                now = time.monotonic()
                if max(now, item.not_before) > start_by:
                    results[index] = NotAttempted("its turn came after the round's time was up")
                    continue
                while item.not_before > now:
                    await asyncio.sleep(min(STOP_POLL, item.not_before - now))
                    now = time.monotonic()
                    if item.not_before > now and not go_ahead(item.message):
                        break
                # The last check, with no await before the request starts: once `may_send`
                # says no for a message, its request does not leave.
                if not go_ahead(item.message):
                    results[index] = Stopped("the round was stopped before its turn")
                    continue
                started[index] = True
                try:
                    results[index] = await self._send(item.message)
                except Exception as error:  # each message's fate is its own
                    results[index] = error

        await asyncio.gather(*(lane() for _ in range(min(self.concurrency, len(items)))))


def _interrupted(
    results: list[SendResult | Exception | None], started: list[bool]
) -> list[SendResult | Exception]:
    """Each message's fate when its round was cut short: a request that started and has no
    answer may have reached the carrier (ambiguous); one that never started was not sent."""
    fates: list[SendResult | Exception] = []
    for result, began in zip(results, started, strict=True):
        if result is not None:
            fates.append(result)
        elif began:
            fates.append(
                ProviderError(
                    "interrupted",
                    "the send was interrupted while its request was on the wire",
                    ambiguous=True,
                )
            )
        else:
            fates.append(NotAttempted("the round was interrupted before its turn"))
    return fates


def connection_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The timeouts and pool size every HTTP carrier's provider takes from the settings."""
    return {
        "connect_timeout": config["PROVIDER_CONNECT_TIMEOUT"],
        "read_timeout": config["PROVIDER_READ_TIMEOUT"],
        "max_connections": config["SEND_CONCURRENCY"],
    }
