"""campaign/workers/send_outcomes.py: what a send round makes of each text from the carrier's
answer (sent, retried with backoff, failed, unknown, or back to the queue untried), and the
outcomes for texts that were cancelled, never tried, or whose answer could not be stored."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from campaign.models import TextStatus, utcnow
from campaign.models.text_claims import Claimed
from campaign.models.text_outcomes import Outcome
from campaign.providers import NotAttempted, ProviderError, SendResult
from campaign.workers.send_outcomes import (
    MAX_BACKOFF,
    Ready,
    bare,
    cancelled,
    deferred,
    outcome_of,
    untried,
)

QUEUED_AT = datetime(2026, 12, 4, tzinfo=UTC)

ACCEPTED_AT = datetime(2031, 1, 1, 9, 0, 0, 123_456, tzinfo=UTC)
MAX_ATTEMPTS = 3
RETRY_BACKOFF = 2.0


def ready(retry_attempts: int = 0) -> Ready:
    claimed = Claimed("t1", "e1", "+15197566220", "+15195550100", retry_attempts, QUEUED_AT)
    return Ready(claimed, "Hello Ada", 1)


def test_a_text_whose_turn_never_came_goes_back_to_the_queue_untried() -> None:
    claimed = Claimed("t1", "e1", "+15197566220", "+15195550100", 1, QUEUED_AT)
    item = Ready(claimed, "Hello", 1)
    before = utcnow()
    outcome = outcome_of(NotAttempted("late"), item, max_attempts=3, retry_backoff=2.0)

    assert (outcome.status, outcome.retry_attempts, outcome.error_code) == (
        TextStatus.QUEUED,
        1,  # not an attempt: the count is unchanged
        None,
    )
    assert outcome.next_attempt_at is not None and outcome.next_attempt_at >= before
    assert outcome.next_attempt_at <= utcnow()  # due at once


# (carrier's answer, attempts before, status, attempts after, error code, provider message id)
ANSWERS: list[Any] = [
    pytest.param(SendResult("SM1", accepted_at=ACCEPTED_AT), 0, "sent", 0, None, "SM1", id="sent"),
    pytest.param(
        SendResult("SM2", status="delivered", accepted_at=ACCEPTED_AT),
        1,
        "delivered",
        1,
        None,
        "SM2",
        id="delivered at once",
    ),
    pytest.param(
        ProviderError("timeout", "no answer", ambiguous=True),
        0,
        "unknown",
        0,
        "timeout",
        None,
        id="ambiguous: never resent",
    ),
    pytest.param(
        ProviderError("21211", "invalid 'To'"), 0, "failed", 1, "21211", None, id="final refusal"
    ),
    pytest.param(
        ProviderError("503", "unavailable", retryable=True),
        MAX_ATTEMPTS - 1,
        "failed",
        MAX_ATTEMPTS,
        "503",
        None,
        id="retryable, attempts used up",
    ),
    pytest.param(
        RuntimeError("a provider bug"),
        1,
        "unknown",
        1,
        "provider-exception",
        None,
        id="provider raised",
    ),
]


@pytest.mark.parametrize(("answer", "before", "status", "after", "code", "message_id"), ANSWERS)
def test_the_carriers_answer_decides_the_outcome(
    answer: SendResult | Exception,
    before: int,
    status: str,
    after: int,
    code: str | None,
    message_id: str | None,
) -> None:
    outcome = outcome_of(answer, ready(before), MAX_ATTEMPTS, RETRY_BACKOFF)

    assert outcome.text_id == "t1"
    assert (outcome.status, outcome.retry_attempts, outcome.error_code) == (status, after, code)
    assert outcome.provider_message_id == message_id
    # What was rendered is kept, whatever the answer, and only a retry is due again.
    assert (outcome.body, outcome.segments) == ("Hello Ada", 1)
    assert outcome.next_attempt_at is None
    assert outcome.sent_at == (ACCEPTED_AT if isinstance(answer, SendResult) else None)


def test_an_unexpected_exception_is_logged_and_never_shown_to_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="campaign.workers.send_outcomes"):
        outcome = outcome_of(RuntimeError("secret internals"), ready(), MAX_ATTEMPTS, 2.0)

    assert outcome.error_detail == "the provider failed unexpectedly; see the worker log"
    [record] = caplog.records
    assert record.exc_info is not None and str(record.exc_info[1]) == "secret internals"


@pytest.mark.parametrize(
    ("before", "retry_after", "delay"),
    [
        (0, None, 2.0),  # the first retry waits the backoff
        (1, None, 4.0),  # and each later one twice as long
        (0, 30.0, 30.0),  # unless the carrier asks for longer
        (1, 1.0, 4.0),  # a shorter ask does not shorten the backoff
        (0, 10_000.0, MAX_BACKOFF),  # and no wait is longer than the cap
    ],
)
def test_a_retryable_refusal_is_queued_again_after_its_backoff(
    before: int, retry_after: float | None, delay: float
) -> None:
    refusal = ProviderError("429", "Too Many Requests", retryable=True, retry_after=retry_after)
    earliest = utcnow() + timedelta(seconds=delay)
    outcome = outcome_of(refusal, ready(before), MAX_ATTEMPTS, RETRY_BACKOFF)
    latest = utcnow() + timedelta(seconds=delay)

    assert (outcome.status, outcome.retry_attempts) == (TextStatus.QUEUED, before + 1)
    assert (outcome.error_code, outcome.error_detail) == ("429", "Too Many Requests")
    assert outcome.next_attempt_at is not None
    assert earliest <= outcome.next_attempt_at <= latest


def test_the_backoff_cap_holds_however_many_attempts_are_allowed() -> None:
    refusal = ProviderError("503", "unavailable", retryable=True)
    before = utcnow()
    outcome = outcome_of(refusal, ready(20), max_attempts=100, retry_backoff=RETRY_BACKOFF)

    assert outcome.next_attempt_at is not None
    assert outcome.next_attempt_at <= utcnow() + timedelta(seconds=MAX_BACKOFF)
    assert outcome.next_attempt_at >= before + timedelta(seconds=MAX_BACKOFF)


QUEUED = Outcome("t1", TextStatus.QUEUED, "Hi", 1, retry_attempts=1, next_attempt_at=ACCEPTED_AT)


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (QUEUED, replace(QUEUED, status=TextStatus.CANCELLED, next_attempt_at=None)),
        *[
            (replace(QUEUED, status=status), replace(QUEUED, status=status))
            for status in (TextStatus.SENT, TextStatus.FAILED, TextStatus.UNKNOWN)
        ],
    ],
    ids=["queued is cancelled", "sent is kept", "failed is kept", "unknown is kept"],
)
def test_cancelling_stops_only_what_would_be_tried_again(
    outcome: Outcome, expected: Outcome
) -> None:
    assert cancelled(outcome) == expected


@pytest.mark.parametrize(
    ("outcome", "message_id", "code", "detail"),
    [
        (Outcome("t1", TextStatus.SENT, "Hi", 1, "SM1"), None, None, "could not be stored"),
        (
            Outcome("t1", TextStatus.FAILED, error_code="x" * 999, error_detail="\x00"),
            None,
            "unrecorded",
            "could not be stored",
        ),
        (Outcome("t1", TextStatus.QUEUED, "Hi", 1), None, None, None),
    ],
    ids=["a message id", "an error", "nothing from the carrier"],
)
def test_a_bare_outcome_drops_what_the_carrier_said(
    outcome: Outcome, message_id: str | None, code: str | None, detail: str | None
) -> None:
    stripped = bare(outcome)

    assert (stripped.provider_message_id, stripped.error_code) == (message_id, code)
    if detail is None:
        assert stripped.error_detail is None
    else:
        assert detail in (stripped.error_detail or "")
    # What we made ourselves is kept.
    assert (stripped.status, stripped.body, stripped.segments) == (
        outcome.status,
        outcome.body,
        outcome.segments,
    )


@pytest.mark.parametrize("attempts", [0, 2])
def test_an_untried_text_goes_back_with_its_attempts_unchanged(attempts: int) -> None:
    item = ready(attempts).claimed

    assert untried(item) == Outcome("t1", TextStatus.QUEUED, retry_attempts=attempts)


def test_a_deferred_text_keeps_its_rendering_and_is_due_at_the_given_moment() -> None:
    assert deferred(ready(2), ACCEPTED_AT) == Outcome(
        "t1", TextStatus.QUEUED, "Hello Ada", 1, retry_attempts=2, next_attempt_at=ACCEPTED_AT
    )
