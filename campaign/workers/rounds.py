"""One send round: claimed texts rendered, the sender's slots reserved, the round handed to the
provider, every outcome recorded in one write (text by text only when the database refuses).

A round lasts at most ROUND_SECONDS at its sender's pace; nothing of it is left `sending` when
it ends, except what a crash interrupts (the sweep settles that).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from campaign import transaction
from campaign.config import SEND_WAIT_LIMIT
from campaign.extensions import db, redis_store
from campaign.models import Engagement, EngagementStatus, TextStatus, utcnow
from campaign.models.opt_out import OPTED_OUT, opted_out
from campaign.models.text_claims import Claimed
from campaign.models.text_outcomes import Outcome, record_outcomes
from campaign.providers import OutboundMessage, Provider, SendResult, Timed, receipt_url
from campaign.providers.base import Interrupted
from campaign.templates_engine import CompiledTemplate
from campaign.workers.rendering import render_claimed
from campaign.workers.runs import follow
from campaign.workers.send_outcomes import bare, cancelled, deferred, outcome_of, untried
from campaign.workers.stops import StopCheck
from campaign.workers.throttle import SenderThrottle

log = logging.getLogger(__name__)

MAX_THROTTLE_WAIT = SEND_WAIT_LIMIT  # seconds a claimed text may wait for its sender's turn
# Texts claimed per round, per connection: each round costs a fixed handful of statements and a
# Redis call, and 8 per connection amortise them (the dispatch benchmark: +30 % over 4). A
# worker that dies mid-round leaves at most one round `sending`, settled `unknown` by the sweep.
ROUND_PER_CONNECTION = 8
# A round's texts are stored when the round ends, and the counters are recounted from what is
# stored, so a round lasts at most about this long at its sender's pace: a slow sender's round
# of MAX_THROTTLE_WAIT seconds kept `sent` texts (and count-complete) up to 5 s behind the
# carrier (bench/counters.py). Faster senders are bounded by ROUND_PER_CONNECTION instead.
ROUND_SECONDS = 1.0
# The error code of a text whose validity period ran out before it could be sent.
EXPIRED = "expired"


@dataclass(frozen=True)
class Batch:
    """What one send job needs, read once: its range, its sender and its compiled template."""

    engagement_id: str
    generation: str
    activity_id: str
    first: str
    last: str
    phone_number_id: str
    sender: str
    throughput: int
    template: CompiledTemplate
    envelope_count: int | None
    account_id: str
    validity_period: int | None


def round_size(batch: Batch, config: Any) -> int:
    # Never claim more than the sender can send within ROUND_SECONDS (< MAX_THROTTLE_WAIT).
    return max(
        1,
        min(
            ROUND_PER_CONNECTION * config["SEND_CONCURRENCY"],
            int(batch.throughput * ROUND_SECONDS),
        ),
    )


def _hold_back(
    batch: Batch, claimed: list[Claimed], now: datetime
) -> tuple[list[Outcome], list[Claimed]]:
    """What must not go, before rendering: texts to numbers the account holds an opt-out for
    fail `opted-out`; texts queued longer ago than the engagement's validity period fail
    `expired` (never sent late). Checked on every round, so an opt-out stored while an
    engagement sends stops its later rounds' texts to that number."""
    numbers = opted_out(batch.account_id, (item.to for item in claimed))
    limit = timedelta(seconds=batch.validity_period) if batch.validity_period else None
    held, going = [], []
    for item in claimed:
        if item.to in numbers:
            code, detail = OPTED_OUT, "the recipient has opted out of this account's texts"
        elif limit is not None and now - item.queued_at >= limit:
            code = EXPIRED
            detail = f"not handed to the carrier within {batch.validity_period} s of queueing"
        else:
            going.append(item)
            continue
        held.append(
            Outcome(
                item.text_id,
                TextStatus.FAILED,
                error_code=code,
                error_detail=detail,
                retry_attempts=item.retry_attempts,
            )
        )
    return held, going


def send_round(
    batch: Batch,
    claimed: list[Claimed],
    provider: Provider,
    throttle: SenderThrottle,
    config: Any,
) -> None:
    try:
        held, claimed = _hold_back(batch, claimed, utcnow())
        ready, outcomes = render_claimed(batch.template, claimed, config["MAX_SEGMENTS"])
        outcomes = held + outcomes
        # Release the connection before any network wait: a slow carrier must not pin the pool.
        transaction.commit()
        db.session.close()
        # One reservation for the whole round; each text then goes out at its own slot.
        # Paced by the number, not the row, so no two rows can double a number's rate. The
        # sender cannot change while the engagement sends (update_phone_number).
        waits = throttle.reserve_many(
            batch.sender,
            batch.throughput,
            [item.segments for item in ready],
            max_wait=MAX_THROTTLE_WAIT,
        )
    except Exception:
        # Nothing has left yet: the round goes back to the queue untried. Left `sending`, the
        # sweep would settle it `unknown`, as if the carrier might have it.
        transaction.rollback()
        try:
            _record(batch, [untried(item) for item in claimed])
        except SQLAlchemyError:
            log.exception(
                "could not put a round back", extra={"engagement_id": batch.engagement_id}
            )
        raise
    reserved_at = time.monotonic()
    sending = ready[: len(waits)]
    results, interruption = _hand_over(
        provider,
        [
            Timed(
                reserved_at + wait,
                OutboundMessage(
                    item.claimed.text_id,
                    item.claimed.to,
                    item.claimed.sender,
                    item.body,
                    receipt_url(config, item.claimed.text_id),
                ),
            )
            for item, wait in zip(sending, waits, strict=True)
        ],
        # A text that cannot leave within the sender's window (a slow carrier holds every
        # connection) goes back to the queue untried, so none stays `sending` for longer than
        # that window plus one request: the bound the sweep relies on (config.check_timing).
        start_by=reserved_at + MAX_THROTTLE_WAIT,
        # Checked right before each request leaves: a pause or cancel holds the rest, an
        # opt-out stored meanwhile holds its number's text.
        may_send=StopCheck(
            redis_store.connection, batch.account_id, batch.engagement_id, batch.generation
        ),
    )
    if len(sending) < len(ready):
        # The sender is booked beyond MAX_THROTTLE_WAIT: the rest wait in the queue, untried.
        later = utcnow() + timedelta(seconds=MAX_THROTTLE_WAIT)
        outcomes.extend(deferred(rest, later) for rest in ready[len(sending) :])
    outcomes.extend(
        outcome_of(result, item, config["MAX_ATTEMPTS"], config["RETRY_BACKOFF"])
        for result, item in zip(results, sending, strict=True)
    )
    _record(batch, outcomes)
    if interruption is not None:
        raise interruption


def _hand_over(
    provider: Provider, items: list[Timed], *, start_by: float, may_send: StopCheck
) -> tuple[list[SendResult | Exception], BaseException | None]:
    """The provider's results, and the exception (a job timeout, a shutdown) that cut the
    round short if one did: what is known is recorded before that exception ends the job."""
    try:
        return provider.send_many(items, start_by, may_send), None
    except Interrupted as exc:
        return exc.results, exc.cause


def _record(batch: Batch, outcomes: list[Outcome]) -> None:
    """Store a round's outcomes; one value the database refuses costs only that text its
    carrier details, never the round its statuses (left `sending`, they would end `unknown`)."""
    try:
        _record_all(batch, outcomes)
    except SQLAlchemyError:
        transaction.rollback()
        log.exception(
            "recording a round failed; text by text",
            extra={"engagement_id": batch.engagement_id},
        )
        for outcome in outcomes:
            try:
                _record_all(batch, [outcome])
            except SQLAlchemyError:
                transaction.rollback()
                log.exception(
                    "storing the text's status alone",
                    extra={"engagement_id": batch.engagement_id, "text_id": outcome.text_id},
                )
                _record_all(batch, [bare(outcome)])


def _record_all(batch: Batch, outcomes: list[Outcome]) -> None:
    """Record and commit; texts back to `queued` in an engagement cancelled meanwhile are
    cancelled instead, since the cancel's own update could not see them while they were
    `sending`. The engagement row is read under a share lock, taken first, so a cancel that
    has not committed yet waits for this and then finds them queued."""
    if any(outcome.status == TextStatus.QUEUED for outcome in outcomes):
        status = db.session.scalar(
            select(Engagement.status)
            .where(Engagement.id == batch.engagement_id)
            .with_for_update(read=True)
        )
        if status == EngagementStatus.CANCELLED:
            outcomes = [cancelled(outcome) for outcome in outcomes]
    now = utcnow()
    follow(record_outcomes(outcomes, now), now, current_app.config)
    transaction.commit()
