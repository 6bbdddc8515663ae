"""What a send round makes of each text: the records it passes along and, pure, the outcome that
follows from the carrier's answer (sent, retried with backoff, failed, unknown or untried)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from campaign.models import TextStatus, utcnow
from campaign.models.text_claims import Claimed
from campaign.models.text_outcomes import Outcome
from campaign.providers import NotAttempted, ProviderError, SendResult

log = logging.getLogger(__name__)

MAX_BACKOFF = 300.0
# The error code a text carries while it waits `queued` for its quiet-hours window to open:
# the API shows why it waits, and a change of the schedule finds the texts it held.
QUIET_HOURS = "quiet-hours"


@dataclass(frozen=True)
class Ready:
    """A claimed text, rendered and counted, ready for its sender's turn."""

    claimed: Claimed
    body: str
    segments: int


def untried(item: Claimed) -> Outcome:
    return Outcome(item.text_id, TextStatus.QUEUED, retry_attempts=item.retry_attempts)


def waiting(item: Claimed, until: datetime, detail: str) -> Outcome:
    """Back to the queue untried, outside its sending window: due again at `until`, never
    failed, its retry count as it was."""
    return Outcome(
        item.text_id,
        TextStatus.QUEUED,
        error_code=QUIET_HOURS,
        error_detail=detail,
        retry_attempts=item.retry_attempts,
        next_attempt_at=until,
    )


def cancelled(outcome: Outcome) -> Outcome:
    if outcome.status != TextStatus.QUEUED:
        return outcome
    return replace(outcome, status=TextStatus.CANCELLED, next_attempt_at=None)


def bare(outcome: Outcome) -> Outcome:
    """The outcome without what the carrier said, for a value the database refused."""
    return replace(
        outcome,
        provider_message_id=None,
        error_code="unrecorded" if outcome.error_code else None,
        error_detail="the carrier's answer could not be stored; see the worker log"
        if outcome.error_code or outcome.provider_message_id
        else None,
    )


def deferred(item: Ready, later: datetime) -> Outcome:
    """Back to the queue, untried, due again at `later`."""
    return Outcome(
        item.claimed.text_id,
        TextStatus.QUEUED,
        body=item.body,
        segments=item.segments,
        retry_attempts=item.claimed.retry_attempts,
        next_attempt_at=later,
    )


def outcome_of(
    result: SendResult | Exception, item: Ready, max_attempts: int, retry_backoff: float
) -> Outcome:
    claimed = item.claimed
    base = {"body": item.body, "segments": item.segments, "retry_attempts": claimed.retry_attempts}
    if isinstance(result, NotAttempted):
        return deferred(item, utcnow())
    if isinstance(result, SendResult):
        return Outcome(
            claimed.text_id,
            TextStatus(result.status),
            **base,
            provider_message_id=result.provider_message_id,
            sent_at=result.accepted_at,
        )
    if not isinstance(result, ProviderError):
        # A provider bug: the request may have gone out, so never resend it.
        log.error(
            "the provider raised unexpectedly",
            exc_info=result,
            extra={"text_id": claimed.text_id},
        )
        return Outcome(
            claimed.text_id,
            TextStatus.UNKNOWN,
            **base,
            error_code="provider-exception",
            error_detail="the provider failed unexpectedly; see the worker log",
        )
    details = {"error_code": result.code, "error_detail": result.detail}
    if result.ambiguous:
        return Outcome(claimed.text_id, TextStatus.UNKNOWN, **base, **details)
    attempts = claimed.retry_attempts + 1
    base["retry_attempts"] = attempts
    if result.retryable and attempts < max_attempts:
        backoff = retry_backoff * 2 ** (attempts - 1)
        delay = min(MAX_BACKOFF, max(result.retry_after or 0.0, backoff))
        return Outcome(
            claimed.text_id,
            TextStatus.QUEUED,
            **base,
            **details,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
        )
    return Outcome(claimed.text_id, TextStatus.FAILED, **base, **details)
