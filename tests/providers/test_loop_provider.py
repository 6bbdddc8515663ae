"""LoopProvider.send_many: each message no earlier than its slot, in slot order, never more than
`concurrency` in flight, none started after the round's `start_by`, and each message's failure
kept to itself."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from campaign.providers.base import (
    Interrupted,
    LoopProvider,
    NotAttempted,
    OutboundMessage,
    ProviderError,
    SendResult,
    Stopped,
    Timed,
)


class Recorder(LoopProvider):
    """Takes `latency` seconds per message and notes when each started and how many overlapped."""

    name = "recorder"

    def __init__(self, concurrency: int, latency: float = 0.0) -> None:
        super().__init__(concurrency)
        self.latency = latency
        self.started: dict[str, float] = {}
        self.in_flight = self.most_in_flight = 0

    async def _send(self, message: OutboundMessage) -> SendResult:
        self.started[message.text_id] = time.monotonic()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
            if message.body == "refused":
                raise ProviderError("21610", "unsubscribed recipient")
            if message.body == "bug":
                raise KeyError("provider bug")
            return SendResult(provider_message_id=f"id-{message.text_id}")
        finally:
            self.in_flight -= 1


def outbound(text_id: str, body: str = "Hello") -> OutboundMessage:
    return OutboundMessage(text_id, "+15197566220", "+15195550100", body)


def test_each_message_leaves_at_or_after_its_slot_in_slot_order() -> None:
    provider = Recorder(concurrency=4)
    start = time.monotonic()
    slots = [start + 0.02 * index for index in range(10)]
    try:
        results = provider.send_many(
            [Timed(slot, outbound(f"t{index}")) for index, slot in enumerate(slots)]
        )
    finally:
        provider.close()

    assert [r.provider_message_id for r in results] == [f"id-t{i}" for i in range(10)]  # type: ignore[union-attr]
    started = [provider.started[f"t{index}"] for index in range(10)]
    assert all(at >= slot for at, slot in zip(started, slots, strict=True))
    assert started == sorted(started)


def test_never_more_than_concurrency_requests_in_flight() -> None:
    provider = Recorder(concurrency=3, latency=0.01)
    try:
        results = provider.send_many([Timed(0.0, outbound(f"t{i}")) for i in range(20)])
    finally:
        provider.close()

    assert len(results) == 20 and all(isinstance(r, SendResult) for r in results)
    assert provider.most_in_flight == 3


def test_messages_whose_turn_comes_after_start_by_are_not_sent() -> None:
    # One connection, 0.1 s per request: the fourth message's turn would come at 0.3 s.
    provider = Recorder(concurrency=1, latency=0.1)
    start = time.monotonic()
    try:
        results = provider.send_many(
            [Timed(0.0, outbound(f"t{i}")) for i in range(5)]
            + [Timed(start + 10.0, outbound("late-slot"))],
            start_by=start + 0.25,
        )
    finally:
        provider.close()

    assert [type(result) for result in results] == [SendResult] * 3 + [NotAttempted] * 3
    assert sorted(provider.started) == ["t0", "t1", "t2"]  # the rest never reached _send
    assert all(at <= start + 0.25 for at in provider.started.values())


def test_each_failure_is_returned_for_its_own_message_and_the_rest_still_go() -> None:
    provider = Recorder(concurrency=2)
    try:
        refused, bug, fine = provider.send_many(
            [
                Timed(0.0, outbound("a", "refused")),
                Timed(0.0, outbound("b", "bug")),
                Timed(0.0, outbound("c")),
            ]
        )
        with pytest.raises(ProviderError):
            provider.send(outbound("d", "refused"))
    finally:
        provider.close()

    assert isinstance(refused, ProviderError) and refused.code == "21610"
    assert isinstance(bug, KeyError)
    assert isinstance(fine, SendResult) and fine.provider_message_id == "id-c"


def test_a_closed_provider_refuses_to_send() -> None:
    provider = Recorder(concurrency=1)
    assert provider.send(outbound("a")).provider_message_id == "id-a"
    provider.close()
    provider.close()  # closing twice is harmless

    with pytest.raises(RuntimeError):
        provider.send(outbound("b"))
    with pytest.raises(RuntimeError):
        provider.send_many([Timed(0.0, outbound("c"))])


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Recorder(concurrency=0)


def test_no_request_leaves_once_may_send_says_no() -> None:
    provider = Recorder(concurrency=2)
    start = time.monotonic()
    asked: list[float] = []

    def may_send(_message: OutboundMessage) -> bool:
        asked.append(time.monotonic())
        return len(provider.started) < 2

    try:
        results = provider.send_many(
            [Timed(start + 0.05 * index, outbound(f"t{index}")) for index in range(6)],
            may_send=may_send,
        )
    finally:
        provider.close()
    assert set(provider.started) == {"t0", "t1"}
    assert [type(result) for result in results] == [SendResult] * 2 + [Stopped] * 4
    assert all(isinstance(result, NotAttempted) for result in results[2:])


def test_a_message_may_send_refuses_is_held_and_the_rest_of_the_round_goes() -> None:
    provider = Recorder(concurrency=2)
    start = time.monotonic()
    try:
        results = provider.send_many(
            [Timed(start + 0.01 * index, outbound(f"t{index}")) for index in range(4)],
            may_send=lambda message: message.text_id != "t1",
        )
    finally:
        provider.close()
    assert sorted(provider.started) == ["t0", "t2", "t3"]
    assert [type(result) for result in results] == [SendResult, Stopped, SendResult, SendResult]


class Timeout(Exception):
    """What RQ's job timeout raises, from a SIGALRM handler, wherever the job is."""


def test_an_interrupted_round_says_what_left_and_sends_nothing_afterwards() -> None:
    provider = Recorder(concurrency=2, latency=0.3)
    start = time.monotonic()

    def alarm(_signum: int, _frame: object) -> None:
        raise Timeout

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.15)
    try:
        # t0 is on the wire when the alarm comes; t1 and t2 wait for their slots.
        items = [Timed(start + offset, outbound(f"t{i}")) for i, offset in enumerate([0, 1, 1.2])]
        with pytest.raises(Interrupted) as interrupted:
            provider.send_many(items)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert isinstance(interrupted.value.cause, Timeout)
    on_wire, *waiting = interrupted.value.results
    assert isinstance(on_wire, ProviderError) and on_wire.ambiguous
    assert all(type(result) is NotAttempted for result in waiting)
    provider.close()  # runs the loop again: the waiting lanes must not wake up and send
    time.sleep(max(0.0, start + 1.5 - time.monotonic()))
    assert set(provider.started) == {"t0"}
