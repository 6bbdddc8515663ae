"""One send round: claimed texts rendered, the sender's slots reserved, the round handed to the
provider, every outcome recorded in one write (text by text only when the database refuses).

A round lasts at most ROUND_SECONDS at its sender's pace; nothing of it is left `sending` when
it ends, except what a crash interrupts (the sweep settles that).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from campaign import transaction
from campaign.compliance.quiet_hours import (
    HORIZON_DAYS,
    ScheduleError,
    Window,
    is_open,
    next_opening,
    zones_for_number,
)
from campaign.config import SEND_WAIT_LIMIT
from campaign.extensions import db, redis_store
from campaign.models import Engagement, EngagementStatus, TextStatus, utcnow
from campaign.models.opt_out import OPTED_OUT, opted_out, record_carrier_opt_outs
from campaign.models.text_claims import Claimed
from campaign.models.text_outcomes import Outcome, record_outcomes
from campaign.providers import (
    OutboundMessage,
    Provider,
    SendResult,
    Timed,
    opt_out_codes,
    receipt_url,
)
from campaign.providers.base import Interrupted
from campaign.templates_engine import CompiledTemplate
from campaign.workers.rendering import render_claimed
from campaign.workers.runs import follow
from campaign.workers.send_outcomes import (
    bare,
    cancelled,
    deferred,
    outcome_of,
    untried,
    waiting,
)
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
# `queue-schedule`'s timezone meaning each recipient's own zones, found from the number.
RECIPIENT_ZONE = "recipient"
# A window never open in all of a number's zones at once (zones further apart than the window
# is long) is looked at again after this; the fix is the schedule, changed while paused.
NEVER_OPEN_RECHECK = timedelta(days=HORIZON_DAYS)


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
    # Quiet hours: the window (None: the engagement has none), the engagement's own zone (None:
    # each recipient's, from the number) and the zone of numbers that name none.
    window: Window | None
    zone: ZoneInfo | None
    fallback_zone: ZoneInfo
    # For each set of zones found outside the window: (since, until, why). The window stays
    # closed from `since` to `until`, so the job's later rounds need not search again.
    closed: dict[tuple[ZoneInfo, ...], tuple[datetime, datetime, str]] = field(
        default_factory=dict, compare=False, repr=False
    )


def round_size(batch: Batch, config: Any) -> int:
    # Never claim more than the sender can send within ROUND_SECONDS (< MAX_THROTTLE_WAIT).
    return max(
        1,
        min(
            ROUND_PER_CONNECTION * config["SEND_CONCURRENCY"],
            int(batch.throughput * ROUND_SECONDS),
        ),
    )


def zones_of(batch: Batch, to: str) -> tuple[ZoneInfo, ...]:
    """The zones a text's window is read in: the engagement's, or the number's own."""
    if batch.zone is not None:
        return (batch.zone,)
    return zones_for_number(to, batch.fallback_zone)


def closed_until(
    batch: Batch, zones: tuple[ZoneInfo, ...], now: datetime
) -> tuple[datetime, str] | None:
    """When the engagement's window next opens in every one of `zones`, and why the text waits;
    None when it is open now (or the engagement has no quiet hours)."""
    window = batch.window
    if window is None:
        return None
    known = batch.closed.get(zones)
    if known is not None and known[0] <= now < known[1]:
        return known[1], known[2]
    if is_open(window, zones, now):
        return None
    try:
        until = next_opening(window, zones, now)
        why = f"outside its sending window, which opens at {until:%Y-%m-%dT%H:%M:%SZ}"
    except ScheduleError:
        until = now + NEVER_OPEN_RECHECK
        why = (
            f"the sending window is not open in all of the number's {len(zones)} time zones "
            f"at once within {HORIZON_DAYS} days; pause and change the queue-schedule to send it"
        )
    batch.closed[zones] = (now, until, why)
    return until, why


def _hold_back(
    batch: Batch, claimed: list[Claimed], now: datetime
) -> tuple[list[Outcome], list[Claimed]]:
    """What must not go, before rendering: texts to numbers the account holds an opt-out for
    fail `opted-out`; texts queued longer ago than the engagement's validity period fail
    `expired` (never sent late); texts outside the engagement's quiet-hours window go back
    `queued` until it opens (never failed). Checked on every round, so an opt-out stored while
    an engagement sends stops its later rounds' texts to that number."""
    numbers = opted_out(batch.account_id, (item.to for item in claimed))
    limit = timedelta(seconds=batch.validity_period) if batch.validity_period else None
    held, going = [], []
    for item in claimed:
        if item.to in numbers:
            code, detail = OPTED_OUT, "the recipient has opted out of this account's texts"
        elif limit is not None and now - item.queued_at >= limit:
            code = EXPIRED
            detail = f"not handed to the carrier within {batch.validity_period} s of queueing"
        elif (closed := closed_until(batch, zones_of(batch, item.to), now)) is not None:
            held.append(waiting(item, *closed))
            continue
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
                    valid_for=_valid_for(batch, item.claimed, wait),
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


def _valid_for(batch: Batch, item: Claimed, wait: float) -> int | None:
    """Whole seconds of the text's validity period left when its slot comes (at least 1: a
    text past it was held back before the round, and its slot is within the round)."""
    if not batch.validity_period:
        return None
    waited = (utcnow() - item.queued_at).total_seconds() + wait
    return max(1, int(batch.validity_period - waited))


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
    config = current_app.config
    follow(record_outcomes(outcomes, now), now, config)
    # The carrier says the recipient opted out with it: on file in the same transaction.
    refused = opt_out_codes(config)
    record_carrier_opt_outs(o.text_id for o in outcomes if o.error_code in refused)
    transaction.commit()
