"""What a run does after a step (pure): the trigger that fires, the next activity and when, or
the run's exit.

A step ends with one event: `text-sent`, `text-delivered`, `text-undelivered`, `text-failed`,
`text-reply` (the recipient answered), `web-call-success`, `web-call-failure`, or `split` with
the category the split matched. The
activity's trigger for that event (and, for `split`, that category) names the next activity and
its delay. Where no trigger leads on, the run ends: `completed` after a success (`text-sent`,
`text-delivered`, `web-call-success`, a split), `failed` after a failure (`text-undelivered`,
`text-failed`, `web-call-failure`) with the failure's reason. That keeps a one-text engagement's
counters as they are today: a text that failed leaves its envelope incomplete, not complete.

A text step may see several events (`text-sent`, then the carrier's receipt). It waits after
`text-sent` only when a trigger of its activity names a receipt's event and the carrier sends
receipts; otherwise `text-sent` settles it, so a run never waits for a word that cannot come (the
console, or a carrier without PUBLIC_BASE_URL). Later events find the run past that step. A text
whose activity has a `text-reply` trigger waits after its success events (`text-sent`,
`text-delivered`) for the recipient's answer, however long it takes: such a run is in flight
until the answer comes or the engagement is cancelled (TextIt's "wait for response" without a
timeout). A failed text cannot be answered: its run ends as any failure does.

A run whose next step would exceed `max_steps` ends `failed`, so a flow that loops cannot run
forever.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Event(StrEnum):
    TEXT_SENT = "text-sent"
    TEXT_DELIVERED = "text-delivered"
    TEXT_UNDELIVERED = "text-undelivered"
    TEXT_FAILED = "text-failed"
    TEXT_REPLY = "text-reply"
    WEB_CALL_SUCCESS = "web-call-success"
    WEB_CALL_FAILURE = "web-call-failure"
    SPLIT = "split"


class ExitType(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The events each activity kind can end a step with (a trigger naming another is refused).
EVENTS_BY_KIND: dict[str, frozenset[Event]] = {
    "text": frozenset(
        {
            Event.TEXT_SENT,
            Event.TEXT_DELIVERED,
            Event.TEXT_UNDELIVERED,
            Event.TEXT_FAILED,
            Event.TEXT_REPLY,
        }
    ),
    "web-call": frozenset({Event.WEB_CALL_SUCCESS, Event.WEB_CALL_FAILURE}),
    "split": frozenset({Event.SPLIT}),
}

# What the carrier's receipt can say about a text that left.
RECEIPT_EVENTS = frozenset({Event.TEXT_DELIVERED, Event.TEXT_UNDELIVERED, Event.TEXT_FAILED})
FAILURES = frozenset({Event.TEXT_UNDELIVERED, Event.TEXT_FAILED, Event.WEB_CALL_FAILURE})
# After these a recipient may answer the text.
ANSWERABLE = frozenset({Event.TEXT_SENT, Event.TEXT_DELIVERED})

LOOPING = "the run took more than {max_steps} steps; a trigger loops"


@dataclass(frozen=True)
class Trigger:
    on_event: Event
    next_activity_id: str
    category: str | None = None
    delay_in_seconds: int = 0


@dataclass(frozen=True)
class Next:
    """The run goes on at `activity_id`, `delay_in_seconds` from now, as step `step`."""

    activity_id: str
    step: int
    delay_in_seconds: int


@dataclass(frozen=True)
class Exit:
    """The run ends: `exit_type`, with `reason` when it failed."""

    exit_type: ExitType
    reason: str | None = None


@dataclass(frozen=True)
class Wait:
    """Nothing to do yet: a text was sent and the run waits for the carrier's receipt or the
    recipient's reply."""


def after(
    event: Event,
    triggers: Iterable[Trigger],
    *,
    step: int,
    max_steps: int,
    category: str | None = None,
    receipts: bool = True,
    reason: str | None = None,
) -> Next | Exit | Wait:
    """Where a run at `step` goes once its activity ended with `event` (and `category`).

    `receipts`: whether the carrier will report on a sent text; `reason`: why the step failed.
    """
    triggers = list(triggers)
    for trigger in triggers:
        if trigger.on_event != event:
            continue
        if event == Event.SPLIT and trigger.category != category:
            continue
        if step + 1 > max_steps:
            return Exit(ExitType.FAILED, LOOPING.format(max_steps=max_steps))
        return Next(trigger.next_activity_id, step + 1, trigger.delay_in_seconds)
    if (
        event == Event.TEXT_SENT
        and receipts
        and any(trigger.on_event in RECEIPT_EVENTS for trigger in triggers)
    ):
        return Wait()
    if event in ANSWERABLE and any(trigger.on_event == Event.TEXT_REPLY for trigger in triggers):
        return Wait()
    if event in FAILURES:
        return Exit(ExitType.FAILED, reason or event.value)
    return Exit(ExitType.COMPLETED)
