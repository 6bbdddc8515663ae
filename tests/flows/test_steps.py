"""campaign/flows/steps.py: where a run goes after each event, table-driven: the trigger that
fires (by event and, for a split, category), the end where none leads on, waiting for a
receipt only when one can come and a trigger wants it, and the step cap."""

from __future__ import annotations

import pytest

from campaign.flows.steps import (
    EVENTS_BY_KIND,
    Event,
    Exit,
    ExitType,
    Next,
    Trigger,
    Wait,
    after,
)

E = Event
ORDER_STATUS = [
    Trigger(E.SPLIT, "text-shipped", category="Shipped"),
    Trigger(E.SPLIT, "text-pending", category="Pending", delay_in_seconds=60),
    Trigger(E.SPLIT, "text-other", category="Other"),
]
WEATHER = [
    Trigger(E.WEB_CALL_SUCCESS, "text-forecast"),
    Trigger(E.WEB_CALL_FAILURE, "text-apology"),
]
FOLLOW_UP = [Trigger(E.TEXT_DELIVERED, "thank-you", delay_in_seconds=3600)]
ON_SENT = [Trigger(E.TEXT_SENT, "next"), Trigger(E.TEXT_DELIVERED, "never-reached")]


@pytest.mark.parametrize(
    ("event", "triggers", "category", "receipts", "outcome"),
    [
        (E.WEB_CALL_SUCCESS, WEATHER, None, True, Next("text-forecast", 3, 0)),
        (E.WEB_CALL_FAILURE, WEATHER, None, True, Next("text-apology", 3, 0)),
        (E.SPLIT, ORDER_STATUS, "Shipped", True, Next("text-shipped", 3, 0)),
        (E.SPLIT, ORDER_STATUS, "Pending", True, Next("text-pending", 3, 60)),
        (E.SPLIT, ORDER_STATUS, "Other", True, Next("text-other", 3, 0)),
        (E.SPLIT, ORDER_STATUS[:1], "Pending", True, Exit(ExitType.COMPLETED)),
        (E.TEXT_SENT, ON_SENT, None, True, Next("next", 3, 0)),
        (E.TEXT_SENT, ON_SENT, None, False, Next("next", 3, 0)),
        (E.TEXT_SENT, FOLLOW_UP, None, True, Wait()),
        (E.TEXT_SENT, FOLLOW_UP, None, False, Exit(ExitType.COMPLETED)),
        (E.TEXT_DELIVERED, FOLLOW_UP, None, True, Next("thank-you", 3, 3600)),
        (E.TEXT_SENT, [], None, True, Exit(ExitType.COMPLETED)),
        (E.TEXT_DELIVERED, [], None, True, Exit(ExitType.COMPLETED)),
        (E.TEXT_UNDELIVERED, FOLLOW_UP, None, True, Exit(ExitType.FAILED, "text-undelivered")),
        (E.TEXT_FAILED, [], None, True, Exit(ExitType.FAILED, "text-failed")),
        (E.WEB_CALL_FAILURE, WEATHER[:1], None, True, Exit(ExitType.FAILED, "web-call-failure")),
        (E.WEB_CALL_SUCCESS, WEATHER[1:], None, True, Exit(ExitType.COMPLETED)),
    ],
    ids=[
        "web-call-success",
        "web-call-failure",
        "split-category",
        "split-category-with-delay",
        "split-other",
        "split-category-without-trigger-ends",
        "sent-with-a-sent-trigger",
        "sent-trigger-without-receipts",
        "sent-waits-for-the-wanted-receipt",
        "sent-settles-when-no-receipt-can-come",
        "delivered-with-delay",
        "sent-no-triggers-completes",
        "delivered-no-triggers-completes",
        "undelivered-without-trigger-fails",
        "failed-text-fails",
        "failed-call-without-trigger-fails",
        "success-without-trigger-completes",
    ],
)
def test_after_each_event_the_run_goes_where_its_triggers_say(
    event: Event,
    triggers: list[Trigger],
    category: str | None,
    receipts: bool,
    outcome: Next | Exit | Wait,
) -> None:
    assert (
        after(event, triggers, step=2, max_steps=100, category=category, receipts=receipts)
        == outcome
    )


def test_a_failure_keeps_its_reason() -> None:
    outcome = after(E.WEB_CALL_FAILURE, [], step=1, max_steps=100, reason="timed out after 10 s")
    assert outcome == Exit(ExitType.FAILED, "timed out after 10 s")


@pytest.mark.parametrize(("step", "ends"), [(98, False), (99, False), (100, True), (250, True)])
def test_a_run_that_would_pass_the_step_cap_fails_as_looping(step: int, ends: bool) -> None:
    loop = [Trigger(E.TEXT_SENT, "itself")]
    outcome = after(E.TEXT_SENT, loop, step=step, max_steps=100)
    if ends:
        assert outcome == Exit(ExitType.FAILED, "the run took more than 100 steps; a trigger loops")
    else:
        assert outcome == Next("itself", step + 1, 0)


def test_the_first_trigger_for_an_event_wins() -> None:
    twice = [Trigger(E.TEXT_SENT, "first"), Trigger(E.TEXT_SENT, "second")]
    assert after(E.TEXT_SENT, twice, step=0, max_steps=100) == Next("first", 1, 0)


def test_every_event_belongs_to_exactly_one_kind() -> None:
    kinds = [kind for event in Event for kind, events in EVENTS_BY_KIND.items() if event in events]
    assert len(kinds) == len(Event)
    assert set(EVENTS_BY_KIND) == {"text", "web-call", "split"}
