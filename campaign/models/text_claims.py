"""Claiming texts for a send round: `queued` to `sending` in one conditional update, so two
workers never hold the same text; `text_outcomes.py` records what became of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update

from campaign.extensions import db
from campaign.models.base import utcnow
from campaign.models.envelope import Envelope, EnvelopeStatus
from campaign.models.text import Text, TextStatus


@dataclass(frozen=True)
class Claimed:
    text_id: str
    envelope_id: str
    to: str
    # The text row's own `from`, set at dispatch: what the API shows is what the carrier gets.
    sender: str
    retry_attempts: int
    # When the text was queued: its validity period runs from here.
    queued_at: datetime


def claim_texts(
    engagement_id: str, activity_id: str, first: str, last: str, limit: int
) -> list[Claimed]:
    """Move up to `limit` due texts of one text activity, of envelopes `first`..`last` of the
    engagement, from
    `queued` to `sending`, atomically; a text another worker holds is skipped. The caller
    commits the claim before any of these texts leaves."""
    now = utcnow()
    # A materialized CTE picks the rows once: as an `IN (subquery LIMIT n ... SKIP LOCKED)`,
    # Postgres may rescan the subquery per row and claim far more than `limit` texts.
    candidates = (
        select(Text.id)
        .where(
            Text.engagement_id == engagement_id,
            Text.status == TextStatus.QUEUED.value,
            Text.envelope_id.between(first, last),
            Text.activity_id == activity_id,
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
        .returning(
            Text.id, Text.envelope_id, Text.to, Text.from_, Text.retry_attempts, Text.created_at
        )
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
    return claimed
