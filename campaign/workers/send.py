"""Send: one job per batch of texts. It claims, renders, paces and hands them to the provider.

Each round claims a few texts with a conditional update (`queued` -> `sending`, skipping rows
another worker holds), renders them with the template compiled once for the batch, commits and
releases its database connection, reserves the sender's slots for the round, then hands the
round to the provider, whose event loop sends them concurrently, each at its slot, and records
every outcome in one statement. A repeated or duplicated job finds nothing left to claim, so no
text is sent twice.

A job works for at most TIME_SLICE seconds and then re-enqueues the rest of its batch, so a slow
sender's campaign never holds a worker away from other senders for long.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from campaign.callback_links import status_callback_url
from campaign.config import SEND_WAIT_LIMIT
from campaign.extensions import db, redis_store
from campaign.models import (
    Engagement,
    EngagementStatus,
    Envelope,
    EnvelopeStatus,
    Text,
    TextStatus,
    utcnow,
)
from campaign.models.engagement import ACTIVE_STATUSES
from campaign.models.text_outcomes import Outcome, record_outcomes
from campaign.providers import (
    OutboundMessage,
    Provider,
    SendResult,
    Timed,
    build_provider,
)
from campaign.providers.base import Interrupted
from campaign.templates_engine import (
    CompiledTemplate,
    RenderError,
    compile_template,
    count_segments,
)
from campaign.workers import job_ids, shutdown
from campaign.workers.progress import refresh_after_round, request_refresh
from campaign.workers.queues import SEND_QUEUE, enqueue_unique
from campaign.workers.send_outcomes import (
    Claimed,
    Ready,
    bare,
    cancelled,
    deferred,
    outcome_of,
    untried,
)
from campaign.workers.stops import StopCheck
from campaign.workers.throttle import SenderThrottle

log = logging.getLogger(__name__)

MAX_THROTTLE_WAIT = SEND_WAIT_LIMIT  # seconds a claimed text may wait for its sender's turn
TIME_SLICE = 10.0  # seconds a job sends before making room for other batches
# Texts claimed per round, per connection: each round costs a fixed handful of statements and a
# Redis call, and 8 per connection amortise them (the dispatch benchmark: +30 % over 4). A
# worker that dies mid-round leaves at most one round `sending`, settled `unknown` by the sweep.
ROUND_PER_CONNECTION = 8
# A round's texts are stored when the round ends, and the counters are recounted from what is
# stored, so a round lasts at most about this long at its sender's pace: a slow sender's round
# of MAX_THROTTLE_WAIT seconds kept `sent` texts (and count-complete) up to 5 s behind the
# carrier (bench/counters.py). Faster senders are bounded by ROUND_PER_CONNECTION instead.
ROUND_SECONDS = 1.0


@dataclass(frozen=True)
class Batch:
    """What one send job needs, read once: its range, its sender and its compiled template."""

    engagement_id: str
    generation: str
    first: str
    last: str
    phone_number_id: str
    sender: str
    throughput: int
    template: CompiledTemplate
    envelope_count: int | None


def enqueue_send(
    engagement_id: str,
    generation: str,
    first: str,
    last: str,
    *,
    at: datetime | None = None,
    continuation: str = "",
) -> bool:
    """Enqueue the send job of one batch (the envelope id range `first`..`last`)."""
    job_id = job_ids.send(engagement_id, generation, first, continuation)
    return enqueue_unique(
        send_text_batch,
        engagement_id,
        generation,
        first,
        last,
        queue=SEND_QUEUE,
        job_id=job_id,
        at=at,
    )


def send_text_batch(engagement_id: str, generation: str, first: str, last: str) -> None:
    """Send the queued texts of envelopes `first`..`last` of one engagement."""
    batch = _load(engagement_id, generation, first, last)
    if batch is None:
        return
    config = current_app.config
    provider = build_provider(config)
    throttle = SenderThrottle(redis_store.connection)
    started = time.monotonic()
    try:
        while (
            time.monotonic() - started < TIME_SLICE
            and not shutdown.requested()
            and heartbeat(engagement_id)
        ):
            claimed = _claim(batch, _round_size(batch, config))
            if not claimed:
                break
            _send_round(batch, claimed, provider, throttle, config)
            refresh_after_round(engagement_id, batch.envelope_count)
    finally:
        provider.close()
    _continue_later(batch)
    request_refresh(engagement_id, batch.envelope_count)


def _load(engagement_id: str, generation: str, first: str, last: str) -> Batch | None:
    engagement = db.session.get(Engagement, engagement_id)
    if engagement is None or engagement.status not in ACTIVE_STATUSES:
        return None
    if engagement.generation != generation:
        return None  # a job from before a pause; the resume enqueued its own
    activity = engagement.activity
    if activity is None or activity.phone_number is None or activity.text_template is None:
        return None
    batch = Batch(
        engagement_id,
        generation,
        first,
        last,
        activity.phone_number.id,
        activity.phone_number.number,
        activity.phone_number.throughput,
        compile_template(activity.text_template.body),
        engagement.count_total,
    )
    # The first batch to run marks the engagement as sending.
    db.session.execute(
        update(Engagement)
        .where(
            Engagement.id == engagement_id, Engagement.status == EngagementStatus.SCHEDULED.value
        )
        .values(status=EngagementStatus.SENDING.value, updated_at=utcnow())
    )
    db.session.commit()
    return batch


def heartbeat(engagement_id: str) -> bool:
    """Whether the engagement still sends; its heartbeat tells the sweep this batch is alive."""
    status = db.session.scalar(
        update(Engagement)
        .where(Engagement.id == engagement_id)
        .values(heartbeat_at=utcnow(), updated_at=Engagement.updated_at)
        .returning(Engagement.status)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return status in ACTIVE_STATUSES


def _round_size(batch: Batch, config: Any) -> int:
    # Never claim more than the sender can send within ROUND_SECONDS (< MAX_THROTTLE_WAIT).
    return max(
        1,
        min(
            ROUND_PER_CONNECTION * config["SEND_CONCURRENCY"],
            int(batch.throughput * ROUND_SECONDS),
        ),
    )


def _claim(batch: Batch, limit: int) -> list[Claimed]:
    """Move up to `limit` due texts of the batch from `queued` to `sending`, atomically."""
    now = utcnow()
    # A materialized CTE picks the rows once: as an `IN (subquery LIMIT n ... SKIP LOCKED)`,
    # Postgres may rescan the subquery per row and claim far more than `limit` texts.
    candidates = (
        select(Text.id)
        .where(
            Text.engagement_id == batch.engagement_id,
            Text.status == TextStatus.QUEUED.value,
            Text.envelope_id.between(batch.first, batch.last),
            or_(Text.next_attempt_at.is_(None), Text.next_attempt_at <= now),
        )
        .order_by(Text.envelope_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("claimable")
        .prefix_with("MATERIALIZED")
    )
    rows = db.session.execute(
        update(Text)
        .where(Text.id == candidates.c.id, Text.status == TextStatus.QUEUED.value)
        .values(status=TextStatus.SENDING.value, claimed_at=now, updated_at=now)
        .returning(Text.id, Text.envelope_id, Text.to, Text.from_, Text.retry_attempts)
        .execution_options(synchronize_session=False)
    ).all()
    claimed = [Claimed(*row) for row in rows]
    if claimed:
        db.session.execute(
            update(Envelope)
            .where(Envelope.id.in_([item.envelope_id for item in claimed]))
            .values(
                status=EnvelopeStatus.PROCESSING.value,
                processed_at=func.coalesce(Envelope.processed_at, now),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return claimed


def _render(
    batch: Batch, claimed: list[Claimed], max_segments: int
) -> tuple[list[Ready], list[Outcome]]:
    metas = dict(
        db.session.execute(
            select(Envelope.id, Envelope.meta).where(
                Envelope.id.in_([item.envelope_id for item in claimed])
            )
        ).all()
    )
    ready, failed = [], []
    for item in claimed:
        try:
            body = batch.template.render(metas[item.envelope_id])
        except RenderError as exc:
            code = "missing-variable" if exc.missing else "template-error"
            failed.append(
                Outcome(
                    item.text_id,
                    TextStatus.FAILED,
                    error_code=code,
                    error_detail=exc.message,
                    retry_attempts=item.retry_attempts,
                )
            )
            continue
        segments = count_segments(body).segments
        if segments > max_segments:
            failed.append(
                Outcome(
                    item.text_id,
                    TextStatus.FAILED,
                    body=body,
                    segments=segments,
                    error_code="too-many-segments",
                    error_detail=f"the text is {segments} segments; the limit is {max_segments} "
                    "(CAMPAIGN_MAX_SEGMENTS)",
                    retry_attempts=item.retry_attempts,
                )
            )
            continue
        ready.append(Ready(item, body, segments))
    return ready, failed


def _send_round(
    batch: Batch,
    claimed: list[Claimed],
    provider: Provider,
    throttle: SenderThrottle,
    config: Any,
) -> None:
    try:
        ready, outcomes = _render(batch, claimed, config["MAX_SEGMENTS"])
        # Release the connection before any network wait: a slow carrier must not pin the pool.
        db.session.commit()
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
        db.session.rollback()
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
                    status_callback_url(config, item.claimed.text_id),
                ),
            )
            for item, wait in zip(sending, waits, strict=True)
        ],
        # A text that cannot leave within the sender's window (a slow carrier holds every
        # connection) goes back to the queue untried, so none stays `sending` for longer than
        # that window plus one request: the bound the sweep relies on (config.check_timing).
        start_by=reserved_at + MAX_THROTTLE_WAIT,
        # Checked right before each request leaves: a pause or cancel holds the rest.
        may_send=StopCheck(redis_store.connection, batch.engagement_id, batch.generation),
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
        db.session.rollback()
        log.exception(
            "recording a round failed; text by text",
            extra={"engagement_id": batch.engagement_id},
        )
        for outcome in outcomes:
            try:
                _record_all(batch, [outcome])
            except SQLAlchemyError:
                db.session.rollback()
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
    record_outcomes(outcomes, utcnow())
    db.session.commit()


def _continue_later(batch: Batch) -> None:
    """Re-enqueue the batch if texts remain: now, or when the earliest deferred one is due."""
    now = utcnow()
    due_now = or_(Text.next_attempt_at.is_(None), Text.next_attempt_at <= now)
    due, earliest = db.session.execute(
        select(func.count(case((due_now, 1))), func.min(Text.next_attempt_at)).where(
            Text.engagement_id == batch.engagement_id,
            Text.status == TextStatus.QUEUED.value,
            Text.envelope_id.between(batch.first, batch.last),
        )
    ).one()
    db.session.commit()
    if (not due and earliest is None) or not heartbeat(batch.engagement_id):
        return
    at = None if due else earliest
    enqueue_send(
        batch.engagement_id,
        batch.generation,
        batch.first,
        batch.last,
        at=at,
        continuation=str(time.time_ns()),
    )
