"""The seed campaign sent end to end on the console provider by a real RQ worker."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Flask

from tests.client import ApiClient
from tests.factories import (
    build_seed_campaign,
    make_phone_number,
    schedule,
    scheduled_seed_campaign,
)
from tests.jobs import drain


def test_scheduled_seed_campaign_is_sent_and_counted(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=100)
    seed = build_seed_campaign(api, phone_id)
    reply = schedule(api, seed.engagement_id, **{"delivery-type": "immediately"})
    assert reply.status == 202
    drain(app)
    texts = api.get(f"/api/v1/texts?filter[engagement]={seed.engagement_id}").data
    assert sorted(
        (t["attributes"]["to"], t["attributes"]["body"], t["attributes"]["status"]) for t in texts
    ) == [
        ("+15197566220", "Hello Alexander, text templates support variables.", "sent"),
        ("+19734390088", "Hello Michael, text templates support variables.", "sent"),
    ]
    assert {t["attributes"]["from"] for t in texts} == {"+15195550100"}
    assert {t["attributes"]["segments"] for t in texts} == {1}
    engagement = api.get(f"/api/v1/engagements/{seed.engagement_id}").data["attributes"]
    assert engagement["status"] == "completed"
    assert (
        engagement["count-total"],
        engagement["count-complete"],
        engagement["count-incomplete"],
        engagement["count-hold"],
    ) == (2, 2, 0, 0)
    envelopes = api.get(f"/api/v1/envelopes?filter[engagement]={seed.engagement_id}").data
    assert {e["attributes"]["status"] for e in envelopes} == {"completed"}
    assert all(
        e["attributes"]["processed-at"] and e["attributes"]["completed-at"] for e in envelopes
    )


def test_each_text_has_the_moment_the_carrier_took_it_as_sent_at(
    app: Flask, api: ApiClient
) -> None:
    """Texts of one round leave a sender 1/throughput apart; `sent-at` shows when each went, not
    when its round was recorded."""
    seed = scheduled_seed_campaign(app, api, throughput=10)
    drain(app)

    texts = api.get(f"/api/v1/texts?filter[engagement]={seed.engagement_id}").data
    first, second = sorted(datetime.fromisoformat(t["attributes"]["sent-at"]) for t in texts)
    # 10 per second: the second text leaves 100 ms after the first, in the same round.
    assert second - first >= timedelta(milliseconds=90)
