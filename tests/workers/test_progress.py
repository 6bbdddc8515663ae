"""Counters between rounds: a send job recounts its engagement inline after a round, once per
slot, and leaves later changes of the same slot to the queued recount at the slot's end; larger
engagements are recounted less often."""

from __future__ import annotations

import pytest
from flask import Flask
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select, update

from campaign.extensions import db
from campaign.models import Engagement, Envelope, EnvelopeStatus
from campaign.workers.progress import refresh_after_round, refresh_interval
from campaign.workers.queues import DISPATCH_QUEUE, get_queue
from campaign.workers.send import heartbeat
from tests.client import ApiClient
from tests.factories import scheduled_seed_campaign
from tests.jobs import run_dispatch_only

SLOT_TIME = 1_900_000_000.25  # any fixed moment: both calls fall in one slot


def _complete_one_more(engagement_id: str) -> None:
    envelope_id = db.session.scalar(
        select(Envelope.id)
        .where(
            Envelope.engagement_id == engagement_id,
            Envelope.status != EnvelopeStatus.COMPLETED.value,
        )
        .limit(1)
    )
    db.session.execute(
        update(Envelope)
        .where(Envelope.id == envelope_id)
        .values(status=EnvelopeStatus.COMPLETED.value)
    )
    db.session.commit()


def _count_complete(engagement_id: str) -> int | None:
    db.session.expire_all()
    engagement = db.session.get(Engagement, engagement_id)
    assert engagement is not None
    return engagement.count_complete


def test_the_first_round_of_a_slot_recounts_inline_and_later_ones_queue_a_recount(
    app: Flask, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = scheduled_seed_campaign(app, api)
    run_dispatch_only(app)
    monkeypatch.setattr("campaign.workers.progress.time.time", lambda: SLOT_TIME)

    with app.app_context():
        registry = ScheduledJobRegistry(queue=get_queue(DISPATCH_QUEUE))
        queued_before = set(registry.get_job_ids())
        _complete_one_more(seed.engagement_id)
        refresh_after_round(seed.engagement_id, 2)
        assert _count_complete(seed.engagement_id) == 1  # counted at once
        assert set(registry.get_job_ids()) == queued_before

        _complete_one_more(seed.engagement_id)
        refresh_after_round(seed.engagement_id, 2)
        assert _count_complete(seed.engagement_id) == 1  # not recounted twice in a slot
        [queued] = set(registry.get_job_ids()) - queued_before
        assert queued == f"progress-{seed.engagement_id}-{int(SLOT_TIME) + 1}"


def test_recounts_and_send_rounds_beat_the_heart_without_moving_updated_at(
    app: Flask, api: ApiClient
) -> None:
    """A sending engagement stays put in lists sorted by `updated-at`: its counters and the
    workers' heartbeat change, its last-modified does not."""
    seed = scheduled_seed_campaign(app, api)
    run_dispatch_only(app)
    with app.app_context():
        before = db.session.get(Engagement, seed.engagement_id)
        assert before is not None
        updated_at = before.updated_at
        _complete_one_more(seed.engagement_id)
        refresh_after_round(seed.engagement_id, 2)
        assert heartbeat(seed.engagement_id)
        db.session.expire_all()
        after = db.session.get(Engagement, seed.engagement_id)
        assert after is not None
        assert after.count_complete == 1
        assert after.heartbeat_at is not None and after.heartbeat_at > updated_at
        assert after.updated_at == updated_at


def test_engagements_are_recounted_less_often_the_larger_they_are() -> None:
    # A recount reads every envelope: about 100,000 rows a second at most, per engagement.
    assert [refresh_interval(n) for n in (None, 0, 1, 100_000, 100_001, 1_000_000)] == [
        1,
        1,
        1,
        1,
        2,
        10,
    ]
    assert refresh_interval(100_000_000) == 30
