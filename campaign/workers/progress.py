"""Engagement progress: the counters, recounted from envelope statuses, and completion.

Counting reads every envelope of the engagement, so it is not done per text: every change asks
for a refresh, and requests within the same slot share one job (its id names the slot); a send
job recounts inline after a round, once per slot (`refresh_after_round`). A slot
is a second for engagements up to 100,000 envelopes and grows with their size (10 s at a
million, at most 30 s), so recounting never costs Postgres more than about 100,000 rows a
second per engagement; at a million envelopes, recounting every second took half a core. The
last refresh after the last change always runs, so the counters settle on the truth.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime

import redis
from sqlalchemy import func, select, update

from campaign import transaction
from campaign.extensions import db, redis_store
from campaign.models import (
    DeliveryType,
    Engagement,
    EngagementStatus,
    Envelope,
    EnvelopeStatus,
    Text,
    TextStatus,
    utcnow,
)
from campaign.models.engagement import ACTIVE_STATUSES
from campaign.models.opt_out import OPTED_OUT
from campaign.workers import job_ids
from campaign.workers.queues import DISPATCH_QUEUE, enqueue_unique

log = logging.getLogger(__name__)


RECOUNT_ROWS_PER_SECOND = 100_000
MAX_REFRESH_INTERVAL = 30


def refresh_interval(total: int | None) -> int:
    """Seconds between recounts of an engagement of `total` envelopes (None: not counted yet)."""
    return min(MAX_REFRESH_INTERVAL, max(1, math.ceil((total or 0) / RECOUNT_ROWS_PER_SECOND)))


def request_refresh(engagement_id: str, total: int | None) -> None:
    """Recount the engagement (of `total` envelopes) at the end of the current slot; one job
    per engagement per slot."""
    interval = refresh_interval(total)
    slot = (int(time.time()) // interval + 1) * interval
    enqueue_unique(
        refresh_engagement,
        engagement_id,
        queue=DISPATCH_QUEUE,
        job_id=job_ids.progress(engagement_id, slot),
        at=datetime.fromtimestamp(slot, UTC),
    )


def _recount_key(engagement_id: str, slot: int) -> str:
    return f"campaign:recount:{engagement_id}:{slot}"


def refresh_after_round(engagement_id: str, total: int | None) -> None:
    """From a send job, once a round is stored: recount now, inline, unless a recount of the
    engagement already ran in this slot; then ask for one at the slot's end instead.

    A queued recount waits for a free worker, and while a slow sender's batches keep every
    worker busy for TIME_SLICE seconds that was many seconds; inline, the counters trail what
    is stored by at most a slot. The first round of a slot pays for the recount (at most about
    100,000 rows a second, as above).
    """
    interval = refresh_interval(total)
    slot = int(time.time()) // interval
    try:
        first = redis_store.connection.set(
            _recount_key(engagement_id, slot), b"1", nx=True, ex=interval + 60
        )
    except redis.RedisError:
        first = False  # the queued recount, or the sweep, settles the counters later
    if first:
        refresh_engagement(engagement_id)
    else:
        request_refresh(engagement_id, total)


def _held_back(engagement_id: str) -> int:
    """Envelopes whose run failed because their text was held back for an opt-out."""
    return (
        db.session.scalar(
            select(func.count(func.distinct(Text.envelope_id)))
            .join(Envelope, Envelope.id == Text.envelope_id)
            .where(
                Text.engagement_id == engagement_id,
                Text.status == TextStatus.FAILED.value,
                Text.error_code == OPTED_OUT,
                Envelope.status == EnvelopeStatus.FAILED.value,
            )
        )
        or 0
    )


@transaction.job
def refresh_engagement(engagement_id: str) -> None:
    """Write the counters from the envelopes; complete the engagement when nothing is left.

    count-complete: envelopes whose run exited `completed` (a one-text run: its text was sent
    or delivered); count-incomplete: runs that exited `failed` or `cancelled`, except those held
    back because their recipient opted out; count-hold: runs still waiting or in flight, and
    those held back (as Omnigage counts them). They always add up to count-total. The
    engagement completes once nothing is waiting or in flight: a held envelope never sends.
    """
    counts = dict(
        db.session.execute(
            select(Envelope.status, func.count())
            .where(Envelope.engagement_id == engagement_id)
            .group_by(Envelope.status)
        ).all()
    )
    complete = counts.get(EnvelopeStatus.COMPLETED.value, 0)
    incomplete = counts.get(EnvelopeStatus.FAILED.value, 0) + counts.get(
        EnvelopeStatus.CANCELLED.value, 0
    )
    total = sum(counts.values())
    in_flight = total - complete - incomplete
    held = _held_back(engagement_id)
    incomplete -= held
    hold = in_flight + held
    now = utcnow()
    db.session.execute(
        update(Engagement)
        .where(Engagement.id == engagement_id, Engagement.count_total.is_not(None))
        .values(
            count_total=total,
            count_complete=complete,
            count_incomplete=incomplete,
            count_hold=hold,
            # Progress, as the sweep reads it; counters alone do not move `updated-at` (set to
            # itself, or the column's onupdate would).
            heartbeat_at=now,
            updated_at=Engagement.updated_at,
        )
    )
    completed = 0
    if in_flight == 0:
        # A triggered engagement never completes by itself: an envelope may come at any time.
        completed = db.session.execute(
            update(Engagement)
            .where(
                Engagement.id == engagement_id,
                Engagement.status.in_(ACTIVE_STATUSES),
                Engagement.delivery_type != DeliveryType.TRIGGERED.value,
            )
            .values(status=EngagementStatus.COMPLETED.value, updated_at=now)
        ).rowcount
    transaction.commit()
    if completed:
        # The one line a recount writes: RQ's lines about these jobs are left out (logs.py).
        log.info(
            "the engagement completed: %d of %d texts taken by the carrier, %d not",
            complete,
            total,
            incomplete,
            extra={"engagement_id": engagement_id},
        )
