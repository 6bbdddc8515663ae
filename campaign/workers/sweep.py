"""The sweep: finds work that Redis or a crashed worker lost, from the truth in Postgres.

- A text left `sending` longer than CAMPAIGN_STUCK_AFTER was claimed by a worker that died
  mid-send. The carrier may have it, so it is not sent again: it becomes `unknown`, and the
  carrier's receipt (which carries the text id) settles it if one comes (at most once).
- A scheduled or sending engagement with work left (texts queued, envelopes not fanned out, run
  steps due: a web call whose worker died is due again once its lease ends) but no job waiting
  for it in Redis and no progress for CAMPAIGN_STUCK_AFTER gets a fresh dispatch, which wakes
  its send batches and its run job; claims make the repeat harmless.
- An auto-reply left `queued` longer than CAMPAIGN_STUCK_AFTER lost its job (Redis): it is
  enqueued again, at most REPLIES_PER_SWEEP a sweep; its claim makes a repeat harmless.
- Idempotency-Key answers older than a day are forgotten (campaign/idempotency.py).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from flask import current_app
from rq.registry import ScheduledJobRegistry
from sqlalchemy import exists, or_, select, update

from campaign import idempotency, transaction
from campaign.extensions import db
from campaign.models import Engagement, Envelope, Text, TextDirection, TextStatus, utcnow
from campaign.models.engagement import ACTIVE_STATUSES
from campaign.models.text_outcomes import Moved, sync_envelopes
from campaign.workers import job_ids
from campaign.workers.dispatch import enqueue_dispatch
from campaign.workers.progress import request_refresh
from campaign.workers.queues import DISPATCH_QUEUE, QUEUE_NAMES, enqueue_unique, get_queue
from campaign.workers.replies import enqueue_reply
from campaign.workers.runs import follow

log = logging.getLogger(__name__)

REPLIES_PER_SWEEP = 1000
INTERRUPTED = (
    "interrupted",
    "the worker stopped while sending; the carrier may have taken "
    "the message, so it is not sent again (the carrier's receipt will settle it)",
)


def enqueue_sweep() -> None:
    """Ask for one sweep per interval, however many workers ask."""
    interval = current_app.config["SWEEP_INTERVAL"]
    enqueue_unique(sweep, queue=DISPATCH_QUEUE, job_id=job_ids.sweep(int(time.time() // interval)))


@transaction.job
def sweep() -> None:
    """Settle texts stuck in `sending` and re-dispatch engagements whose jobs were lost.

    It logs what it found (a line per engagement it acted on), never that it ran: it runs every
    CAMPAIGN_SWEEP_INTERVAL, and RQ's own lines about its job are left out (campaign/logs.py).
    """
    stuck_after = timedelta(seconds=current_app.config["STUCK_AFTER"])
    now = utcnow()
    _settle_interrupted(now - stuck_after)
    _resend_lost_replies(now - stuck_after)
    idempotency.forget_expired()
    transaction.commit()
    waiting = _engagements_with_jobs()
    engagements = db.session.scalars(
        select(Engagement).where(Engagement.status.in_(ACTIVE_STATUSES))
    ).all()
    for engagement in engagements:
        if engagement.id in waiting or engagement.last_sign_of_life() > now - stuck_after:
            continue
        if _has_work(engagement.id):
            enqueue_dispatch(engagement, rescue=f"sweep{time.time_ns()}")
            log.warning(
                "the engagement's jobs were lost; dispatched it again",
                extra={"engagement_id": engagement.id},
            )
        else:
            request_refresh(engagement.id, engagement.count_total)
            log.info(
                "the engagement has no work left but was not finished; recounting it",
                extra={"engagement_id": engagement.id},
            )
    transaction.commit()


def _settle_interrupted(claimed_before: object) -> None:
    rows = db.session.execute(
        update(Text)
        .where(Text.status == TextStatus.SENDING.value, Text.claimed_at < claimed_before)
        .values(
            status=TextStatus.UNKNOWN.value,
            error_code=INTERRUPTED[0],
            error_detail=INTERRUPTED[1],
            claimed_at=None,
            updated_at=utcnow(),
        )
        .returning(Text.id, Text.engagement_id, Text.envelope_id, Text.activity_id, Text.step)
        .execution_options(synchronize_session=False)
    ).all()
    now = utcnow()
    sync_envelopes([row[0] for row in rows], now)
    follow(
        [Moved(text_id, envelope_id, TextStatus.UNKNOWN, activity_id, step)
         for text_id, _, envelope_id, activity_id, step in rows],
        now,
        current_app.config,
    )  # fmt: skip
    transaction.commit()
    # Auto-replies (no engagement) are settled too; there is no engagement to recount.
    engagement_ids = {row[1] for row in rows if row[1] is not None}
    if not engagement_ids:
        return
    for engagement_id in sorted(engagement_ids):
        settled = [row[0] for row in rows if row[1] == engagement_id]
        log.warning(
            "%d texts were left sending by a worker that stopped; now unknown, never resent",
            len(settled),
            extra={"engagement_id": engagement_id, "text_ids": settled[:20]},
        )
    totals = db.session.execute(
        select(Engagement.id, Engagement.count_total).where(Engagement.id.in_(engagement_ids))
    ).all()
    for engagement_id, total in totals:
        request_refresh(engagement_id, total)


def _resend_lost_replies(queued_before: datetime) -> None:
    """Enqueue again the auto-replies still queued long after their job should have run (a
    retry's own later time is not lost: its next_attempt_at is in the future until then)."""
    lost = (
        db.session.execute(
            select(Text.id)
            .where(
                Text.engagement_id.is_(None),
                Text.direction == TextDirection.OUTBOUND.value,
                Text.status == TextStatus.QUEUED.value,
                Text.created_at < queued_before,
                or_(Text.next_attempt_at.is_(None), Text.next_attempt_at < queued_before),
            )
            .order_by(Text.created_at)
            .limit(REPLIES_PER_SWEEP)
        )
        .scalars()
        .all()
    )
    transaction.commit()
    for text_id in lost:
        enqueue_reply(text_id, continuation=f"sweep{time.time_ns()}")
    if lost:
        log.warning("%d auto-replies had lost their jobs; enqueued again", len(lost))


def _engagements_with_jobs() -> set[str]:
    """Engagements that have a dispatch or send job queued or scheduled in Redis."""
    found: set[str] = set()
    for name in QUEUE_NAMES:
        queue = get_queue(name)
        waiting = queue.get_job_ids() + ScheduledJobRegistry(queue=queue).get_job_ids()
        for job_id in waiting:
            named = job_ids.parse(job_id)
            if named.kind in job_ids.SENDING_WORK and named.engagement_id is not None:
                found.add(named.engagement_id)
    return found


def _has_work(engagement_id: str) -> bool:
    queued = exists().where(
        Text.engagement_id == engagement_id, Text.status == TextStatus.QUEUED.value
    )
    not_fanned_out = exists().where(
        Envelope.engagement_id == engagement_id, Envelope.scheduled_at.is_(None)
    )
    # A run step due (or a web call whose lease ran out): the run job's work.
    due = exists().where(
        Envelope.engagement_id == engagement_id,
        Envelope.exit_type.is_(None),
        Envelope.next_step_at <= utcnow(),
    )
    return bool(db.session.scalar(select(or_(queued, not_fanned_out, due))))
