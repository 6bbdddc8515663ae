"""Send: one job per batch of texts, working it round by round.

Each round claims a few texts with a conditional update (`queued` -> `sending`, skipping rows
another worker holds: models/text_claims.py), renders them with the template compiled once for
the batch (rendering.py), and sends and records them (rounds.py; the outcome each carrier answer
leads to is send_outcomes.py). A repeated or duplicated job finds nothing left to claim, so no
text is sent twice.

A job works for at most TIME_SLICE seconds and then re-enqueues the rest of its batch, so a slow
sender's campaign never holds a worker away from other senders for long. While quiet hours in
the engagement's own zone keep every text waiting, it claims nothing and continues at the
window's opening.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, func, or_, select, update

from campaign import transaction
from campaign.compliance.quiet_hours import Window, parse_window, parse_zone
from campaign.extensions import db, redis_store
from campaign.models import Activity, Engagement, EngagementStatus, Text, TextStatus, utcnow
from campaign.models.engagement import ACTIVE_STATUSES
from campaign.models.text_claims import claim_texts
from campaign.providers import build_provider
from campaign.templates_engine import compile_template
from campaign.workers import job_ids, shutdown
from campaign.workers.progress import refresh_after_round, request_refresh
from campaign.workers.queues import SEND_QUEUE, enqueue_unique
from campaign.workers.rounds import RECIPIENT_ZONE, Batch, closed_until, round_size, send_round
from campaign.workers.throttle import SenderThrottle

log = logging.getLogger(__name__)

TIME_SLICE = 10.0  # seconds a job sends before making room for other batches


def enqueue_send(
    engagement_id: str,
    generation: str,
    activity_id: str,
    first: str,
    last: str,
    *,
    at: datetime | None = None,
    continuation: str = "",
) -> bool:
    """Enqueue the send job of one batch: the texts of one text activity for the envelope id
    range `first`..`last`."""
    job_id = job_ids.send(engagement_id, generation, activity_id, first, continuation)
    return enqueue_unique(
        send_text_batch,
        engagement_id,
        generation,
        activity_id,
        first,
        last,
        queue=SEND_QUEUE,
        job_id=job_id,
        at=at,
    )


@transaction.job
def send_text_batch(
    engagement_id: str, generation: str, activity_id: str, first: str, last: str
) -> None:
    """Send the queued texts of one text activity for envelopes `first`..`last`."""
    batch = _load(engagement_id, generation, activity_id, first, last)
    if batch is None:
        return
    config = current_app.config
    provider = build_provider(config)
    throttle = SenderThrottle(redis_store.connection)
    started = time.monotonic()
    opening = None
    try:
        while (
            time.monotonic() - started < TIME_SLICE
            and not shutdown.requested()
            and heartbeat(engagement_id)
        ):
            opening = _own_zone_opening(batch, utcnow())
            if opening is not None:
                break  # no text may go before it: claiming them only to put them back is waste
            claimed = claim_texts(
                engagement_id, activity_id, batch.first, batch.last, round_size(batch, config)
            )
            transaction.commit()  # the claim is stored before any of its texts leaves
            if not claimed:
                break
            send_round(batch, claimed, provider, throttle, config)
            refresh_after_round(engagement_id, batch.envelope_count)
    finally:
        provider.close()
    _continue_later(batch, not_before=opening)
    request_refresh(engagement_id, batch.envelope_count)


def _load(
    engagement_id: str, generation: str, activity_id: str, first: str, last: str
) -> Batch | None:
    engagement = db.session.get(Engagement, engagement_id)
    if engagement is None or engagement.status not in ACTIVE_STATUSES:
        return None
    if engagement.generation != generation:
        return None  # a job from before a pause; the resume enqueued its own
    activity = db.session.get(Activity, activity_id)
    if (
        activity is None
        or activity.engagement_id != engagement_id
        or activity.phone_number is None
        or activity.text_template is None
    ):
        return None
    batch = Batch(
        engagement_id,
        generation,
        activity_id,
        first,
        last,
        activity.phone_number.id,
        activity.phone_number.number,
        activity.phone_number.throughput,
        compile_template(activity.text_template.body),
        engagement.count_total,
        engagement.account_id,
        engagement.validity_period,
        *_quiet_hours(engagement),
    )
    # The first batch to run marks the engagement as sending.
    db.session.execute(
        update(Engagement)
        .where(
            Engagement.id == engagement_id, Engagement.status == EngagementStatus.SCHEDULED.value
        )
        .values(status=EngagementStatus.SENDING.value, updated_at=utcnow())
    )
    transaction.commit()
    return batch


def _quiet_hours(engagement: Engagement) -> tuple[Window | None, ZoneInfo | None, ZoneInfo]:
    """The engagement's window, its own zone (None: each recipient's) and its fallback zone.

    The service stored them checked; a zone the installed database no longer knows raises
    here, so the job fails loudly (and the sweep retries it) rather than send outside hours.
    """
    fallback = parse_zone(engagement.fallback_timezone)
    schedule = engagement.queue_schedule
    if not engagement.queue_schedule_is_enabled or schedule is None:
        return None, None, fallback
    name = schedule["timezone"]
    return parse_window(schedule), None if name == RECIPIENT_ZONE else parse_zone(name), fallback


def _own_zone_opening(batch: Batch, now: datetime) -> datetime | None:
    """When the window next opens, if it is read in the engagement's own zone and closed now."""
    if batch.zone is None:
        return None
    closed = closed_until(batch, (batch.zone,), now)
    return None if closed is None else closed[0]


def heartbeat(engagement_id: str) -> bool:
    """Whether the engagement still sends; its heartbeat tells the sweep this batch is alive."""
    status = db.session.scalar(
        update(Engagement)
        .where(Engagement.id == engagement_id)
        .values(heartbeat_at=utcnow(), updated_at=Engagement.updated_at)
        .returning(Engagement.status)
        .execution_options(synchronize_session=False)
    )
    transaction.commit()
    return status in ACTIVE_STATUSES


def _continue_later(batch: Batch, *, not_before: datetime | None = None) -> None:
    """Re-enqueue the batch if texts remain: now, or when the earliest deferred one is due,
    and not before `not_before` (the opening of a window closed in the engagement's zone)."""
    now = utcnow()
    due_now = or_(Text.next_attempt_at.is_(None), Text.next_attempt_at <= now)
    due, earliest = db.session.execute(
        select(func.count(case((due_now, 1))), func.min(Text.next_attempt_at)).where(
            Text.engagement_id == batch.engagement_id,
            Text.activity_id == batch.activity_id,
            Text.status == TextStatus.QUEUED.value,
            Text.envelope_id.between(batch.first, batch.last),
        )
    ).one()
    transaction.commit()
    if (not due and earliest is None) or not heartbeat(batch.engagement_id):
        return
    at = None if due else earliest
    if not_before is not None and (at is None or at < not_before):
        at = not_before
    enqueue_send(
        batch.engagement_id,
        batch.generation,
        batch.activity_id,
        batch.first,
        batch.last,
        at=at,
        continuation=str(time.time_ns()),
    )
