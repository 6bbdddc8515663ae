"""Pause, resume, cancel, delivery time and repeated scheduling, with a real worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import event, func, select

from campaign.extensions import db, redis_store
from campaign.models import Text
from campaign.workers.queues import DISPATCH_QUEUE
from campaign.workers.runner import InProcessWorker, build_worker
from tests.client import ApiClient
from tests.factories import (
    BULK,
    build_seed_campaign,
    envelope,
    make_phone_number,
    resource,
    schedule,
)
from tests.jobs import drain, run_dispatch_only


def _campaign(app: Flask, api: ApiClient, size: int = 12) -> str:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=1000)
    seed = build_seed_campaign(api, phone_id)
    extra = [
        envelope(seed.engagement_id, f"+1519555{index:04d}", {"first-name": f"N{index}"})
        for index in range(size - 2)
    ]
    if extra:
        assert api.post("/api/v1/envelopes", {"data": extra}, headers=BULK).status == 201
    return seed.engagement_id


def _patch(api: ApiClient, engagement_id: str, **attributes: object) -> int:
    return api.patch(
        f"/api/v1/engagements/{engagement_id}",
        resource("engagements", attributes, id_=engagement_id),
    ).status


def _texts(api: ApiClient, engagement_id: str) -> list[dict[str, object]]:
    return api.get(f"/api/v1/texts?filter[engagement]={engagement_id}&page[size]=1000").data


def _attributes(api: ApiClient, engagement_id: str) -> dict[str, object]:
    return api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]


def test_repeated_patch_to_scheduled_dispatches_once(app: Flask, api: ApiClient) -> None:
    engagement_id = _campaign(app, api)
    assert _patch(api, engagement_id, status="scheduled", **{"delivery-type": "immediately"}) == 202
    assert _patch(api, engagement_id, status="scheduled") == 202
    # The walkthrough's request 5, sent again verbatim, is accepted and starts nothing new.
    assert _patch(api, engagement_id, status="scheduled", **{"delivery-type": "immediately"}) == 202
    with app.app_context():
        assert Queue(DISPATCH_QUEUE, connection=redis_store.connection).count == 1
    drain(app)
    assert _patch(api, engagement_id, status="scheduled") == 409  # completed now
    texts = _texts(api, engagement_id)
    assert len(texts) == 12
    assert len({t["relationships"]["envelope"]["data"]["id"] for t in texts}) == 12


def test_paused_engagement_sends_nothing_until_resumed(app: Flask, api: ApiClient) -> None:
    engagement_id = _campaign(app, api)
    assert _patch(api, engagement_id, status="scheduled") == 202
    run_dispatch_only(app)
    assert _patch(api, engagement_id, status="paused") == 200
    drain(app)
    assert {t["attributes"]["status"] for t in _texts(api, engagement_id)} == {"queued"}
    paused = _attributes(api, engagement_id)
    assert (paused["status"], paused["count-hold"], paused["count-complete"]) == ("paused", 12, 0)

    assert _patch(api, engagement_id, status="scheduled") == 202
    drain(app)
    assert {t["attributes"]["status"] for t in _texts(api, engagement_id)} == {"sent"}
    done = _attributes(api, engagement_id)
    assert (done["status"], done["count-complete"], done["count-hold"]) == ("completed", 12, 0)


def test_cancel_ends_the_engagement_and_counts_what_was_not_sent(
    app: Flask, api: ApiClient
) -> None:
    engagement_id = _campaign(app, api)
    assert _patch(api, engagement_id, status="scheduled") == 202
    run_dispatch_only(app)
    assert _patch(api, engagement_id, status="cancelled") == 200
    drain(app)
    assert {t["attributes"]["status"] for t in _texts(api, engagement_id)} == {"cancelled"}
    envelopes = api.get(f"/api/v1/envelopes?filter[engagement]={engagement_id}&page[size]=100")
    assert {e["attributes"]["status"] for e in envelopes.data} == {"cancelled"}
    cancelled = _attributes(api, engagement_id)
    assert (
        cancelled["status"],
        cancelled["count-total"],
        cancelled["count-incomplete"],
        cancelled["count-complete"],
        cancelled["count-hold"],
    ) == ("cancelled", 12, 12, 0, 0)
    assert _patch(api, engagement_id, status="scheduled") == 409


def test_delivery_time_holds_the_engagement_until_then(app: Flask, api: ApiClient) -> None:
    engagement_id = _campaign(app, api, size=3)
    start = datetime.now(UTC) + timedelta(seconds=2)
    assert (
        _patch(
            api,
            engagement_id,
            status="scheduled",
            **{
                "delivery-type": "scheduled",
                "delivery-time": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
        )
        == 202
    )
    with app.app_context():
        queue = Queue(DISPATCH_QUEUE, connection=redis_store.connection)
        assert queue.count == 0
        assert ScheduledJobRegistry(queue=queue).count == 1
    build_worker(app, InProcessWorker).work(burst=True, with_scheduler=False)
    assert _texts(api, engagement_id) == []
    drain(app)
    texts = _texts(api, engagement_id)
    assert len(texts) == 3
    assert all(datetime.fromisoformat(t["attributes"]["sent-at"]) >= start for t in texts)


def test_scheduling_is_refused_when_envelopes_lack_template_variables(
    app: Flask, api: ApiClient
) -> None:
    engagement_id = _campaign(app, api, size=2)
    lacking = [
        envelope(engagement_id, "+15195550177", {"last-name": "Nobody"}),
        envelope(engagement_id, "+15195550178", {}),
    ]
    assert api.post("/api/v1/envelopes", {"data": lacking}, headers=BULK).status == 201
    reply = schedule(api, engagement_id)
    assert reply.status == 409
    assert "'first-name' (2 envelopes)" in reply.errors[0]["detail"]
    assert reply.pointers() == ["/data/attributes/status"]
    assert _attributes(api, engagement_id)["status"] == "pending"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Text)) == 0


def test_pause_resume_cycles_leave_one_dispatch_walk(app: Flask, api: ApiClient) -> None:
    engagement_id = _campaign(app, api)
    assert _patch(api, engagement_id, status="scheduled") == 202
    cycles = 40
    for _ in range(cycles):
        assert _patch(api, engagement_id, status="paused") == 200
        assert _patch(api, engagement_id, status="scheduled") == 202
    with app.app_context():
        assert Queue(DISPATCH_QUEUE, connection=redis_store.connection).count == cycles + 1
        engine = db.engine
    walks: list[str] = []

    def count_text_inserts(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO TEXTS"):
            walks.append(statement)

    event.listen(engine, "before_cursor_execute", count_text_inserts)
    try:
        run_dispatch_only(app)
    finally:
        event.remove(engine, "before_cursor_execute", count_text_inserts)
    # Twelve envelopes fit one first batch: one walk is one insert; the older jobs return.
    assert len(walks) == 1
    assert len(_texts(api, engagement_id)) == 12
