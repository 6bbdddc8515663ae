"""Auto-replies: the one text owed to a recipient who sent a keyword (its confirmation or the
help text), sent from the number that received it.

A reply belongs to no engagement, so nothing paces it behind a campaign: it has its own queue,
which every worker takes before dispatch and send work (workers/queues.py), and goes to the
carrier at once, outside its number's throttle (one text per keyword received; the keyword
rules bound how many: services/inbound.py). It is claimed (`queued` -> `sending`) before it
leaves and recorded like any text, so it leaves at most once; a retryable refusal comes back
at its backoff, and the sweep re-enqueues a reply whose job Redis lost.
"""

from __future__ import annotations

import time
from datetime import datetime

from flask import current_app
from sqlalchemy import update

from campaign import transaction
from campaign.extensions import db
from campaign.models import Text, TextDirection, TextStatus, utcnow
from campaign.models.text_claims import Claimed
from campaign.models.text_outcomes import Outcome, record_outcomes
from campaign.providers import OutboundMessage, Timed, build_provider, receipt_url
from campaign.providers.base import Interrupted
from campaign.templates_engine.segments import count_segments
from campaign.workers import job_ids
from campaign.workers.queues import REPLY_QUEUE, enqueue_unique
from campaign.workers.send_outcomes import Ready, outcome_of


def enqueue_reply(text_id: str, *, at: datetime | None = None, continuation: str = "") -> bool:
    """Enqueue the job that sends the auto-reply `text_id` (now, or at its retry's time)."""
    return enqueue_unique(
        send_reply,
        text_id,
        queue=REPLY_QUEUE,
        job_id=job_ids.reply(text_id, continuation),
        at=at,
    )


@transaction.job
def send_reply(text_id: str) -> None:
    """Send one queued auto-reply; a repeated job finds it claimed or settled and does nothing."""
    now = utcnow()
    row = db.session.execute(
        update(Text)
        .where(
            Text.id == text_id,
            Text.status == TextStatus.QUEUED.value,
            Text.direction == TextDirection.OUTBOUND.value,
            Text.engagement_id.is_(None),
        )
        .values(status=TextStatus.SENDING.value, claimed_at=now, updated_at=now)
        .returning(Text.to, Text.from_, Text.body, Text.retry_attempts, Text.created_at)
        .execution_options(synchronize_session=False)
    ).first()
    transaction.commit()  # claimed before it leaves: never sent twice
    if row is None:
        return
    to, sender, body, attempts, queued_at = row
    config = current_app.config
    item = Ready(
        Claimed(text_id, "", to, sender, attempts, queued_at),
        body or "",
        count_segments(body or "").segments,
    )
    message = OutboundMessage(text_id, to, sender, item.body, receipt_url(config, text_id))
    provider = build_provider(config)
    try:
        [result] = provider.send_many([Timed(time.monotonic(), message)])
    except Interrupted as exc:
        [result] = exc.results
        _record(outcome_of(result, item, config["MAX_ATTEMPTS"], config["RETRY_BACKOFF"]))
        raise exc.cause from None
    finally:
        provider.close()
    outcome = outcome_of(result, item, config["MAX_ATTEMPTS"], config["RETRY_BACKOFF"])
    _record(outcome)
    if outcome.status == TextStatus.QUEUED:
        enqueue_reply(text_id, at=outcome.next_attempt_at, continuation=str(time.time_ns()))


def _record(outcome: Outcome) -> None:
    record_outcomes([outcome], utcnow())
    transaction.commit()
