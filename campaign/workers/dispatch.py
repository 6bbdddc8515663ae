"""Dispatch: the fan-out job that turns a scheduled engagement into texts and send batches.

It walks the engagement's envelopes in id order, `batch_size` at a time: creates their `queued`
texts in one statement (skipping any that exist, so a rerun is harmless), commits, and enqueues
one send job per batch, naming the batch by its first and last envelope id. Sending starts with
the first batch while the fan-out goes on with the rest. A job belongs to one generation (one
scheduling): once a pause or a resume has moved the engagement on, it returns at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from campaign import transaction
from campaign.extensions import db
from campaign.models import (
    DeliveryType,
    Engagement,
    EngagementStatus,
    Envelope,
    Text,
    TextStatus,
    new_ids,
    utcnow,
)
from campaign.models.engagement import ACTIVE_STATUSES
from campaign.workers import job_ids
from campaign.workers.queues import DISPATCH_QUEUE, enqueue_unique
from campaign.workers.send import enqueue_send

log = logging.getLogger(__name__)
FIRST_BATCH = 50


def enqueue_dispatch(engagement: Engagement, *, rescue: str = "") -> bool:
    """Wake the dispatcher for this engagement, at its delivery time when it has one.

    `rescue` names a re-dispatch by the sweep: its jobs get fresh ids, since the lost jobs'
    ids may still be taken in Redis (a killed job's hash outlives it).
    """
    return dispatch_enqueuer(engagement, rescue=rescue)()


def dispatch_enqueuer(engagement: Engagement, *, rescue: str = "") -> Callable[[], bool]:
    """`enqueue_dispatch` with what it needs read from the row now, for an after-commit hook
    (the commit expires the row; reading it again would open another transaction)."""
    from_time = (
        engagement.delivery_time if engagement.delivery_type == DeliveryType.SCHEDULED else None
    )
    at = from_time if from_time is not None and from_time > utcnow() else None
    job_id = job_ids.dispatch(engagement.id, engagement.generation, rescue)
    return partial(
        enqueue_unique,
        dispatch_engagement,
        engagement.id,
        engagement.generation,
        rescue,
        queue=DISPATCH_QUEUE,
        job_id=job_id,
        at=at,
    )


def _insert(rows: list[dict[str, Any]]) -> None:
    dialect = db.session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(Text)
    db.session.execute(statement.on_conflict_do_nothing(), rows)


@transaction.job
def dispatch_engagement(engagement_id: str, generation: str, rescue: str = "") -> None:
    """Create the engagement's texts and enqueue their send batches (idempotent).

    `generation` is the scheduling the job was enqueued for: every pause and resume enqueues a
    new job, so the jobs of earlier generations must not each walk the whole engagement again.
    """
    engagement = db.session.get(Engagement, engagement_id)
    if engagement is None or EngagementStatus(engagement.status) not in ACTIVE_STATUSES:
        return
    if engagement.generation != generation:
        return  # a pause and resume came after this job was enqueued; the newest job walks
    if (
        engagement.delivery_type == DeliveryType.SCHEDULED
        and engagement.delivery_time
        and engagement.delivery_time > utcnow()
    ):
        enqueue_dispatch(engagement)  # woken early (by the sweep): go back to sleep
        return
    activity = engagement.activity
    if activity is None or activity.phone_number is None:
        log.warning(
            "the engagement lost its activity or sender; not dispatching",
            extra={"engagement_id": engagement_id},
        )
        return
    batch_size = current_app.config["BATCH_SIZE"]
    gen, sender = engagement.generation, activity.phone_number.number
    scheduled_at = engagement.scheduled_at  # read now: the commit below expires the row
    account_id, activity_id = engagement.account_id, activity.id
    transaction.commit()  # end the read transaction; each batch below is its own
    after = ""
    # A small first batch gets the first text out quickly; the rest go in full batches.
    size = min(FIRST_BATCH, batch_size)
    while True:
        envelopes = db.session.execute(
            select(Envelope.id, Envelope.phone_number)
            .where(Envelope.engagement_id == engagement_id, Envelope.id > after)
            .order_by(Envelope.id)
            .limit(size)
        ).all()
        if not envelopes:
            break
        now = utcnow()
        _insert(
            [
                {
                    "id": text_id,
                    "account_id": account_id,
                    "engagement_id": engagement_id,
                    "envelope_id": envelope_id,
                    "activity_id": activity_id,
                    "to": number,
                    "from_": sender,
                    "status": TextStatus.QUEUED.value,
                    "retry_attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for text_id, (envelope_id, number) in zip(
                    new_ids(len(envelopes)), envelopes, strict=True
                )
            ]
        )
        first, last = envelopes[0][0], envelopes[-1][0]
        db.session.execute(
            update(Envelope)
            .where(
                Envelope.engagement_id == engagement_id,
                Envelope.id.between(first, last),
                Envelope.scheduled_at.is_(None),
            )
            .values(scheduled_at=now)
        )
        status, now_scheduled_at = db.session.execute(
            select(Engagement.status, Engagement.scheduled_at).where(Engagement.id == engagement_id)
        ).one()
        transaction.commit()
        if EngagementStatus(status) not in ACTIVE_STATUSES or now_scheduled_at != scheduled_at:
            return  # paused, cancelled or resumed during the fan-out; the newest job walks on
        enqueue_send(engagement_id, gen, first, last, continuation=rescue)
        after, size = last, batch_size
