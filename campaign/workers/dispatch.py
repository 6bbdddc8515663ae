"""Dispatch: the fan-out job that turns a scheduled engagement into texts and send batches.

It walks the engagement's envelopes in id order, `batch_size` at a time, and starts the runs
not yet started at the engagement's entry activity: for a text entry it creates their `queued`
texts in one statement (skipping any that exist, so a rerun is harmless); for a web call or a
split it makes them due for the run job. It commits, and enqueues one send job per batch and
text activity, naming the batch by its first and last envelope id. Sending starts with
the first batch while the fan-out goes on with the rest. A job belongs to one generation (one
scheduling): once a pause or a resume has moved the engagement on, it returns at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from flask import current_app
from sqlalchemy import func, select, update

from campaign import transaction
from campaign.extensions import db
from campaign.models import (
    ActivityKind,
    DeliveryType,
    Engagement,
    EngagementStatus,
    Envelope,
    new_ids,
    utcnow,
)
from campaign.models.engagement import ACTIVE_STATUSES
from campaign.models.run_steps import insert_texts, text_row
from campaign.workers import job_ids
from campaign.workers.queues import DISPATCH_QUEUE, enqueue_unique
from campaign.workers.runs import enqueue_runs
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
    entry = engagement.activity
    if entry is None or (entry.kind == ActivityKind.TEXT and entry.phone_number is None):
        log.warning(
            "the engagement lost its entry activity or its sender; not dispatching",
            extra={"engagement_id": engagement_id},
        )
        return
    batch_size = current_app.config["BATCH_SIZE"]
    gen = engagement.generation
    scheduled_at = engagement.scheduled_at  # read now: the commit below expires the row
    account_id, entry_id, entry_kind = engagement.account_id, entry.id, entry.kind
    sender = entry.phone_number.number if entry.phone_number is not None else ""
    # Runs may be at any text activity (a resume after a pause): each gets its send batches.
    text_activities = [a.id for a in engagement.activities if a.kind == ActivityKind.TEXT]
    if engagement.is_triggered or entry_kind != ActivityKind.TEXT:
        # No send batch may come to mark it: a triggered engagement sends from now on.
        engagement.status = EngagementStatus.SENDING.value
    transaction.commit()  # end the read transaction; each batch below is its own
    after = ""
    # A small first batch gets the first text out quickly; the rest go in full batches.
    size = min(FIRST_BATCH, batch_size)
    while True:
        envelopes = db.session.execute(
            select(Envelope.id, Envelope.phone_number, Envelope.step)
            .where(Envelope.engagement_id == engagement_id, Envelope.id > after)
            .order_by(Envelope.id)
            .limit(size)
        ).all()
        if not envelopes:
            break
        now = utcnow()
        first, last = envelopes[0][0], envelopes[-1][0]
        unstarted = [(envelope_id, number) for envelope_id, number, step in envelopes if step == 0]
        if entry_kind == ActivityKind.TEXT:
            insert_texts(
                [
                    text_row(text_id, account_id, engagement_id, envelope_id, entry_id, 1,
                             number, sender, now)
                    for text_id, (envelope_id, number) in zip(
                        new_ids(len(unstarted)), unstarted, strict=True
                    )
                ]
            )  # fmt: skip
        # Each run begins at the entry, step 1: a text is now queued for it, or (a web call,
        # a split) it is due for the run job.
        db.session.execute(
            update(Envelope)
            .where(
                Envelope.engagement_id == engagement_id,
                Envelope.id.between(first, last),
                Envelope.step == 0,
            )
            .values(
                step=1,
                activity_id=entry_id,
                next_step_at=None if entry_kind == ActivityKind.TEXT else now,
                scheduled_at=func.coalesce(Envelope.scheduled_at, now),
            )
        )
        status, now_scheduled_at = db.session.execute(
            select(Engagement.status, Engagement.scheduled_at).where(Engagement.id == engagement_id)
        ).one()
        transaction.commit()
        if EngagementStatus(status) not in ACTIVE_STATUSES or now_scheduled_at != scheduled_at:
            return  # paused, cancelled or resumed during the fan-out; the newest job walks on
        for activity_id in text_activities:
            enqueue_send(engagement_id, gen, activity_id, first, last, continuation=rescue)
        if entry_kind != ActivityKind.TEXT and unstarted:
            enqueue_runs(engagement_id, gen)
        after, size = last, batch_size
    _wake_due_runs(engagement_id, gen)


def _wake_due_runs(engagement_id: str, generation: str) -> None:
    """Runs waiting on a delay or a web call (a resume, a rescue) get the run job."""
    earliest = db.session.scalar(
        select(func.min(Envelope.next_step_at)).where(
            Envelope.engagement_id == engagement_id, Envelope.exit_type.is_(None)
        )
    )
    transaction.commit()
    if earliest is not None:
        enqueue_runs(engagement_id, generation, at=earliest)
