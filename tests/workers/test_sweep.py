"""The sweep: work whose jobs were lost (killed worker, flushed Redis) is found and finished."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask
from rq import Queue
from sqlalchemy import select, update

from campaign.extensions import db, redis_store
from campaign.models import Engagement, Text, TextStatus, utcnow
from campaign.workers.queues import SEND_QUEUE
from campaign.workers.sweep import sweep
from tests.client import ApiClient
from tests.factories import (
    BULK,
    build_seed_campaign,
    envelope,
    make_phone_number,
    schedule,
)
from tests.jobs import drain, run_dispatch_only
from tests.servers import configured


def test_sweep_finishes_batches_whose_jobs_died_and_never_resends_in_flight_texts(
    app: Flask, api: ApiClient
) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=1000)
    seed = build_seed_campaign(api, phone_id)
    extra = [
        envelope(seed.engagement_id, f"+1519555{i:04d}", {"first-name": "R"}) for i in range(60)
    ]
    assert api.post("/api/v1/envelopes", {"data": extra}, headers=BULK).status == 201
    assert schedule(api, seed.engagement_id).status == 202
    run_dispatch_only(app)
    with app.app_context():
        # A worker died mid-round: its send jobs left the queue but their hashes stay in Redis,
        # and three texts it had claimed are still `sending`.
        queue = Queue(SEND_QUEUE, connection=redis_store.connection)
        assert queue.count >= 1
        for job in queue.get_jobs():
            queue.remove(job)
            assert job.exists(job.id, connection=redis_store.connection)
        long_ago = utcnow() - timedelta(minutes=10)
        in_flight = db.session.scalars(select(Text.id).limit(3)).all()
        db.session.execute(
            update(Text)
            .where(Text.id.in_(in_flight))
            .values(status=TextStatus.SENDING.value, claimed_at=long_ago)
        )
        db.session.execute(update(Engagement).values(updated_at=long_ago, heartbeat_at=long_ago))
        db.session.commit()
    with configured(app, STUCK_AFTER=1.0), app.app_context():
        time.sleep(0.1)
        sweep()
    drain(app)
    texts = api.get(f"/api/v1/texts?filter[engagement]={seed.engagement_id}&page[size]=100").data
    statuses = {text["id"]: text["attributes"]["status"] for text in texts}
    assert len(statuses) == 62
    assert {statuses[text_id] for text_id in in_flight} == {"unknown"}
    assert set(statuses.values()) == {"sent", "unknown"}
    assert sum(status == "sent" for status in statuses.values()) == 59
    engagement = api.get(f"/api/v1/engagements/{seed.engagement_id}").data["attributes"]
    assert (engagement["status"], engagement["count-complete"], engagement["count-incomplete"]) == (
        "completed",
        59,
        3,
    )
