"""Engagement progress: the counters, recounted from envelope statuses, and completion.

Counting is an aggregate over an index, so it is not done per text: every change asks for a
refresh, and requests within the same second share one job (its id names the second). The
last refresh after the last change always runs, so the counters settle on the truth.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from campaign.extensions import db
from campaign.models import Engagement, EngagementStatus, Envelope, EnvelopeStatus, utcnow
from campaign.workers.queues import DISPATCH_QUEUE, enqueue_unique

_FINISHING = [EngagementStatus.SCHEDULED.value, EngagementStatus.SENDING.value]


def request_refresh(engagement_id: str) -> None:
    """Recount the engagement within about a second (one job per engagement per second)."""
    second = int(time.time()) + 1
    enqueue_unique(
        refresh_engagement,
        engagement_id,
        queue=DISPATCH_QUEUE,
        job_id=f"progress-{engagement_id}-{second}",
        at=datetime.fromtimestamp(second, UTC),
    )


def refresh_engagement(engagement_id: str) -> None:
    """Write the counters from the envelopes; complete the engagement when nothing is left.

    count-complete: envelopes whose text the carrier took (sent or delivered);
    count-incomplete: envelopes that ended otherwise (failed, undelivered, unknown, cancelled);
    count-hold: envelopes still waiting or in flight. They always add up to count-total.
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
    hold = total - complete - incomplete
    now = utcnow()
    db.session.execute(
        update(Engagement)
        .where(Engagement.id == engagement_id, Engagement.count_total.is_not(None))
        .values(
            count_total=total,
            count_complete=complete,
            count_incomplete=incomplete,
            count_hold=hold,
            updated_at=now,
        )
    )
    if hold == 0:
        db.session.execute(
            update(Engagement)
            .where(Engagement.id == engagement_id, Engagement.status.in_(_FINISHING))
            .values(status=EngagementStatus.COMPLETED.value, updated_at=now)
        )
    db.session.commit()
