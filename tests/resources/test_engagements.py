"""`engagements` CRUD and status moves: scheduling answers 202 and enqueues exactly one dispatch
job, pausing and resuming, cancelling (with its envelopes), delayed delivery, and attribute values
refused at their pointer. (Moves and delivery changes refused: test_engagement_transitions.py.)"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import rq
from flask import Flask

from campaign.extensions import redis_store
from tests.assertions import assert_error, unchanged
from tests.client import TIMESTAMP, ApiClient, Reply, assert_created
from tests.factories import resource, schedule, seed_campaign
from tests.world import wrong_value, wrong_value_tests

URL = "/api/v1/engagements"


def dispatch_jobs(app: Flask) -> tuple[list[str], list[str]]:
    """Ids of the dispatch jobs waiting in the queue and in its scheduled registry."""
    with app.app_context():
        queue = rq.Queue("dispatch", connection=redis_store.connection)
        return list(queue.job_ids), list(queue.scheduled_job_registry.get_job_ids())


def all_dispatch_jobs(app: Flask) -> list[str]:
    queued, scheduled = dispatch_jobs(app)
    return queued + scheduled


def patch(api: ApiClient, id_: str, **attributes: Any) -> Reply:
    return api.patch(f"{URL}/{id_}", resource("engagements", attributes, id_=id_))


def wire_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_create_is_pending_with_null_counters(api: ApiClient) -> None:
    data = assert_created(
        api.post(
            URL, resource("engagements", {"name": "Weekly Specials", "direction": "outbound"})
        ),
        "engagements",
    )
    attributes = data["attributes"]
    assert attributes["status"] == "pending"
    assert attributes["direction"] == "outbound"
    assert attributes["delivery-type"] == "immediately"
    assert attributes["delivery-time"] is None
    for counter in ("count-total", "count-complete", "count-incomplete", "count-hold"):
        assert attributes[counter] is None
    assert data["relationships"]["activity"]["data"] is None
    assert api.get(f"{URL}/{data['id']}").data == data


def test_patch_changes_only_the_given_attributes(api: ApiClient) -> None:
    future = wire_time(datetime.now(UTC) + timedelta(days=2))
    created = assert_created(
        api.post(
            URL,
            resource(
                "engagements",
                {"name": "Old", "delivery-type": "scheduled", "delivery-time": future},
            ),
        ),
        "engagements",
    )
    reply = patch(api, created["id"], name="New")
    assert reply.status == 200
    attributes = reply.data["attributes"]
    assert attributes["name"] == "New"
    assert attributes["delivery-type"] == "scheduled"
    assert attributes["delivery-time"] == future
    assert attributes["status"] == "pending"
    assert (
        attributes["updated-at"] > attributes["created-at"] == created["attributes"]["created-at"]
    )
    assert api.get(f"{URL}/{created['id']}").data["attributes"] == attributes


def test_patch_to_scheduled_answers_202_and_enqueues_one_dispatch(
    app: Flask, api: ApiClient
) -> None:
    campaign = seed_campaign(app, api)
    first = patch(
        api, campaign.engagement_id, status="scheduled", **{"delivery-type": "immediately"}
    )
    assert first.status == 202
    assert first.data["attributes"]["status"] == "scheduled"
    assert first.data["attributes"]["count-total"] == 2
    queued, scheduled = dispatch_jobs(app)
    assert len(queued) == 1 and scheduled == []
    assert campaign.engagement_id in queued[0]

    again = patch(api, campaign.engagement_id, status="scheduled")
    assert again.status == 202
    assert again.data["attributes"]["status"] == "scheduled"
    assert dispatch_jobs(app) == (queued, [])


def test_pause_then_resume_enqueues_a_second_dispatch(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    assert patch(api, campaign.engagement_id, status="scheduled").status == 202
    first_jobs = all_dispatch_jobs(app)
    assert len(first_jobs) == 1

    paused = patch(api, campaign.engagement_id, status="paused")
    assert paused.status == 200
    assert paused.data["attributes"]["status"] == "paused"
    assert api.get(f"{URL}/{campaign.engagement_id}").data["attributes"]["status"] == "paused"
    assert all_dispatch_jobs(app) == first_jobs

    resumed = patch(api, campaign.engagement_id, status="scheduled")
    assert resumed.status == 202
    assert resumed.data["attributes"]["status"] == "scheduled"
    jobs = all_dispatch_jobs(app)
    assert len(jobs) == 2
    assert set(first_jobs) < set(jobs)


def test_cancel_a_scheduled_engagement_cancels_its_envelopes(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    assert patch(api, campaign.engagement_id, status="scheduled").status == 202
    cancelled = patch(api, campaign.engagement_id, status="cancelled")
    assert cancelled.status == 200
    assert cancelled.data["attributes"]["status"] == "cancelled"
    envelopes = api.get(f"/api/v1/envelopes?filter[engagement]={campaign.engagement_id}").data
    assert len(envelopes) == 2
    for item in envelopes:
        assert item["attributes"]["status"] == "cancelled"
        assert TIMESTAMP.match(item["attributes"]["completed-at"])
    # A cancelled engagement is final.
    refused = patch(api, campaign.engagement_id, status="scheduled")
    assert refused.status == 409
    assert refused.pointers() == ["/data/attributes/status"]


def test_cancel_a_pending_engagement_cancels_its_envelopes(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    cancelled = patch(api, campaign.engagement_id, status="cancelled")
    assert cancelled.status == 200
    assert cancelled.data["attributes"]["status"] == "cancelled"
    statuses = {
        item["attributes"]["status"]
        for item in api.get(f"/api/v1/envelopes?filter[engagement]={campaign.engagement_id}").data
    }
    assert statuses == {"cancelled"}
    assert all_dispatch_jobs(app) == []


def test_scheduled_delivery_waits_in_the_scheduled_registry(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    delivery = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    reply = patch(
        api,
        campaign.engagement_id,
        status="scheduled",
        **{"delivery-type": "scheduled", "delivery-time": wire_time(delivery)},
    )
    assert reply.status == 202
    assert reply.data["attributes"]["delivery-time"] == wire_time(delivery)
    queued, scheduled = dispatch_jobs(app)
    assert queued == []
    assert len(scheduled) == 1
    with app.app_context():
        registry = rq.Queue("dispatch", connection=redis_store.connection).scheduled_job_registry
        assert registry.get_scheduled_time(scheduled[0]) == delivery


def test_read_includes_activity_and_phone_numbers(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    read = api.get(f"{URL}/{campaign.engagement_id}?include=activity,phone-numbers")
    assert read.status == 200
    assert read.data["relationships"]["activity"]["data"] == {
        "type": "activities",
        "id": campaign.activity_id,
    }
    assert read.data["relationships"]["phone-numbers"]["data"] == [
        {"type": "phone-numbers", "id": campaign.phone_number_id}
    ]
    assert sorted((item["type"], item["id"]) for item in read.document["included"]) == [
        ("activities", campaign.activity_id),
        ("phone-numbers", campaign.phone_number_id),
    ]


def test_pause_is_refused_with_nothing_changed_when_the_senders_cannot_be_told(
    app: Flask, api: ApiClient
) -> None:
    seed = seed_campaign(app, api)
    url = f"/api/v1/engagements/{seed.engagement_id}"
    assert schedule(api, seed.engagement_id).status == 202
    # A Redis nobody listens on: the stop mark cannot be written.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with unchanged(app):  # Postgres and the real Redis both
        saved = app.extensions["campaign-redis"]
        app.extensions["campaign-redis"] = redis.Redis(host="127.0.0.1", port=port)
        try:
            reply = api.patch(
                url, resource("engagements", {"status": "paused"}, id_=seed.engagement_id)
            )
        finally:
            app.extensions["campaign-redis"] = saved
    assert reply.status == 503
    [error] = reply.errors
    assert (error["status"], error["title"]) == ("503", "Service unavailable")
    assert api.get(url).data["attributes"]["status"] == "scheduled"


WRONG_VALUES = [
    wrong_value({"name": 5}, "/data/attributes/name"),
    wrong_value({"name": None}, "/data/attributes/name"),
    wrong_value({"delivery-time": "yesterday"}, "/data/attributes/delivery-time"),
    wrong_value({"delivery-time": 5}, "/data/attributes/delivery-time"),
    wrong_value({"delivery-time": "2031-01-01T09:00:00"}, "/data/attributes/delivery-time"),
    wrong_value({"delivery-type": "later"}, "/data/attributes/delivery-type"),
    wrong_value({"direction": "inbound"}, "/data/attributes/direction"),
    wrong_value({"status": "bogus"}, "/data/attributes/status"),
    wrong_value({"status": 5}, "/data/attributes/status"),
    wrong_value({"expected-inputs": "OrderNo"}, "/data/attributes/expected-inputs"),
    wrong_value({"expected-inputs": ["OrderNo", "OrderNo"]}, "/data/attributes/expected-inputs/1"),
    wrong_value({"expected-inputs": ["id", ""]}, "/data/attributes/expected-inputs/1"),
    wrong_value({"expected-inputs": [7]}, "/data/attributes/expected-inputs/0"),
]


test_wrong_value_on_create_is_400, test_wrong_value_on_update_is_400 = wrong_value_tests(
    "engagements", WRONG_VALUES
)


def test_a_triggered_engagement_keeps_its_expected_inputs(api: ApiClient) -> None:
    data = assert_created(
        api.post(
            URL,
            resource(
                "engagements",
                {"name": "Orders", "delivery-type": "triggered", "expected-inputs": ["OrderNo"]},
            ),
        ),
        "engagements",
    )
    assert data["attributes"]["delivery-type"] == "triggered"
    assert data["attributes"]["expected-inputs"] == ["OrderNo"]
    changed = patch(api, data["id"], **{"expected-inputs": ["OrderNo", "orderno"]})
    assert changed.status == 200, changed.document
    assert changed.data["attributes"]["expected-inputs"] == ["OrderNo", "orderno"]
    assert changed.data["attributes"]["delivery-type"] == "triggered"
    assert api.get(f"{URL}/{data['id']}").data["attributes"]["expected-inputs"] == [
        "OrderNo",
        "orderno",
    ]


def test_expected_inputs_default_to_an_empty_list(api: ApiClient) -> None:
    data = api.post(URL, resource("engagements", {"name": "Plain"})).data
    assert data["attributes"]["expected-inputs"] == []


def add_web_call(api: ApiClient, engagement_id: str) -> str:
    reply = api.post(
        "/api/v1/activities",
        resource(
            "activities",
            {"name": "Lookup", "kind": "web-call", "url": "https://orders.example.com/x"},
            {"engagement": ("engagements", engagement_id)},
        ),
    )
    assert reply.status == 201, reply.document
    return str(reply.data["id"])


def entry(id_: str, activity_id: str) -> dict[str, Any]:
    return {
        "data": {
            "type": "engagements",
            "id": id_,
            "relationships": {"activity": {"data": {"type": "activities", "id": activity_id}}},
        }
    }


def test_activities_lists_every_activity_in_creation_order(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    second = add_web_call(api, campaign.engagement_id)
    read = api.get(f"{URL}/{campaign.engagement_id}?include=activities")
    assert read.data["relationships"]["activities"]["data"] == [
        {"type": "activities", "id": campaign.activity_id},
        {"type": "activities", "id": second},
    ]
    assert [item["id"] for item in read.document["included"]] == [campaign.activity_id, second]
    listed = api.get(f"{URL}?include=activities").data
    assert [len(item["relationships"]["activities"]["data"]) for item in listed] == [2]


def test_patch_activity_makes_another_of_its_activities_the_entry(
    app: Flask, api: ApiClient
) -> None:
    campaign = seed_campaign(app, api)
    second = add_web_call(api, campaign.engagement_id)
    reply = api.patch(f"{URL}/{campaign.engagement_id}", entry(campaign.engagement_id, second))
    assert reply.status == 200, reply.document
    assert reply.data["relationships"]["activity"]["data"] == {"type": "activities", "id": second}
    read = api.get(f"{URL}/{campaign.engagement_id}").data
    assert read["relationships"]["activity"]["data"]["id"] == second


def test_the_entry_must_be_one_of_the_engagements_activities(
    app: Flask, api: ApiClient, other_api: ApiClient
) -> None:
    campaign = seed_campaign(app, api)
    spare = api.post(URL, resource("engagements", {"name": "Spare"})).data["id"]
    elsewhere = add_web_call(api, spare)
    theirs = add_web_call(
        other_api, other_api.post(URL, resource("engagements", {"name": "T"})).data["id"]
    )
    url = f"{URL}/{campaign.engagement_id}"
    pointer = "/data/relationships/activity/data"
    with unchanged(app):
        assert_error(api.patch(url, entry(campaign.engagement_id, elsewhere)), 400, pointer=pointer)
        assert_error(api.patch(url, entry(campaign.engagement_id, theirs)), 404, pointer=pointer)
    assert schedule(api, campaign.engagement_id).status == 202
    with unchanged(app):
        late = api.patch(url, entry(campaign.engagement_id, campaign.activity_id))
    assert_error(late, 409, pointer=pointer, detail="pending")


def test_a_new_engagement_cannot_name_an_entry(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    body = {
        "data": {
            "type": "engagements",
            "attributes": {"name": "E"},
            "relationships": {
                "activity": {"data": {"type": "activities", "id": campaign.activity_id}}
            },
        }
    }
    with unchanged(app):
        reply = api.post(URL, body)
    assert_error(reply, 400, pointer="/data/relationships/activity", detail="read-only")
