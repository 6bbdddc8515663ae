"""`envelopes` CRUD one at a time: E.164 numbers, meta changes and deletes while the engagement is
pending, 409 once it is scheduled, attribute values refused at their pointer, the run's read-only
attributes, and the list's filters (exit type, updated after a moment). (Bulk uploads:
test_bulk_envelopes.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from campaign.extensions import db
from campaign.models import Envelope
from tests.assertions import assert_error
from tests.client import TIMESTAMP, ApiClient, Reply, assert_created
from tests.factories import (
    BULK,
    build_seed_campaign,
    envelope,
    make_phone_number,
    resource,
    schedule,
    seed_campaign,
)
from tests.world import World, wrong_value, wrong_value_tests

URL = "/api/v1/envelopes"


def patch(api: ApiClient, id_: str, **attributes: Any) -> Reply:
    return api.patch(f"{URL}/{id_}", resource("envelopes", attributes, id_=id_))


def scheduled(api: ApiClient, engagement_id: str) -> None:
    reply = schedule(api, engagement_id)
    assert reply.status == 202, reply.document


def test_create_one_stores_e164_and_links_the_activity(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    data = assert_created(
        api.post(
            URL,
            resource(
                "envelopes",
                {"phone-number": "(519) 555-0123", "meta": {"first-name": "Ada", "age": 36}},
                {"engagement": ("engagements", campaign.engagement_id)},
            ),
        ),
        "envelopes",
    )
    attributes = data["attributes"]
    assert attributes["phone-number"] == "+15195550123"
    assert attributes["meta"] == {"first-name": "Ada", "age": 36}
    assert attributes["status"] == "pending"
    assert attributes["retry-attempts"] == 0
    for moment in ("scheduled-at", "processed-at", "completed-at"):
        assert attributes[moment] is None
    # The run has not started.
    assert (attributes["step"], attributes["exit-type"]) == (0, None)
    assert (attributes["values"], attributes["path"]) == ({}, [])
    assert data["relationships"]["engagement"]["data"]["id"] == campaign.engagement_id
    assert data["relationships"]["activity"]["data"]["id"] == campaign.activity_id
    assert api.get(f"{URL}/{data['id']}").data == data


def test_bulk_envelopes_share_one_created_at(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    listed = api.get(f"{URL}?filter[engagement]={campaign.engagement_id}").data
    assert len(listed) == 2
    assert len({item["attributes"]["created-at"] for item in listed}) == 1
    for item in listed:
        assert TIMESTAMP.match(item["attributes"]["created-at"])
        assert item["attributes"]["created-at"] == item["attributes"]["updated-at"]


def test_patch_meta_while_pending_changes_only_meta(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    envelope_id = campaign.envelope_ids[0]
    before = api.get(f"{URL}/{envelope_id}").data
    reply = patch(api, envelope_id, meta={"first-name": "Alec"})
    assert reply.status == 200
    attributes = reply.data["attributes"]
    assert attributes["meta"] == {"first-name": "Alec"}
    assert attributes["phone-number"] == before["attributes"]["phone-number"]
    assert attributes["status"] == "pending"
    assert attributes["updated-at"] > attributes["created-at"]
    assert reply.data["relationships"] == before["relationships"]
    assert api.get(f"{URL}/{envelope_id}").data["attributes"] == attributes


def test_patch_phone_number_is_stored_as_e164(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    reply = patch(api, campaign.envelope_ids[0], **{"phone-number": "519.555.0124"})
    assert reply.status == 200
    assert reply.data["attributes"]["phone-number"] == "+15195550124"
    assert reply.data["attributes"]["meta"] == {"first-name": "Alexander", "last-name": "Bell"}


def test_patch_to_a_number_the_engagement_has_is_a_conflict(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    reply = patch(api, campaign.envelope_ids[0], **{"phone-number": "+19734390088"})
    assert reply.status == 409
    assert reply.pointers() == ["/data/attributes/phone-number"]
    assert (
        api.get(f"{URL}/{campaign.envelope_ids[0]}").data["attributes"]["phone-number"]
        == "+15197566220"
    )


def test_patch_after_scheduling_is_a_conflict(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    scheduled(api, campaign.engagement_id)
    envelope_id = campaign.envelope_ids[0]
    before = api.get(f"{URL}/{envelope_id}").data
    reply = patch(api, envelope_id, meta={"first-name": "Alec"})
    assert reply.status == 409
    assert api.get(f"{URL}/{envelope_id}").data == before


def test_envelopes_cannot_be_added_after_scheduling(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    scheduled(api, campaign.engagement_id)
    reply = api.post(
        URL,
        {
            "data": [
                resource(
                    "envelopes",
                    {"phone-number": "+15195550125"},
                    {"engagement": ("engagements", campaign.engagement_id)},
                )["data"]
            ]
        },
        headers=BULK,
    )
    assert reply.status == 409
    assert reply.pointers() == ["/data/0/relationships/engagement/data"]
    assert len(api.get(f"{URL}?filter[engagement]={campaign.engagement_id}").data) == 2


def test_delete_while_pending_answers_204_then_404(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    envelope_id = campaign.envelope_ids[0]
    deleted = api.delete(f"{URL}/{envelope_id}")
    assert deleted.status == 204
    assert deleted.document is None
    assert api.get(f"{URL}/{envelope_id}").status == 404
    assert api.delete(f"{URL}/{envelope_id}").status == 404
    assert [item["id"] for item in api.get(URL).data] == [campaign.envelope_ids[1]]


def test_delete_after_scheduling_is_a_conflict(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    scheduled(api, campaign.engagement_id)
    assert api.delete(f"{URL}/{campaign.envelope_ids[0]}").status == 409
    assert api.get(f"{URL}/{campaign.envelope_ids[0]}").status == 200


def test_read_includes_engagement_and_activity(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    read = api.get(f"{URL}/{campaign.envelope_ids[0]}?include=engagement,activity")
    assert read.status == 200, read.document
    assert sorted((item["type"], item["id"]) for item in read.document["included"]) == [
        ("activities", campaign.activity_id),
        ("engagements", campaign.engagement_id),
    ]


def test_bulk_response_resources_equal_what_reading_them_back_gives(
    app: Flask, api: ApiClient
) -> None:
    """The bulk response is built from the inserted rows, not by the schema: they must agree."""
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    seed = build_seed_campaign(api, phone_id)
    created = api.post(
        "/api/v1/envelopes",
        {
            "data": [
                envelope(seed.engagement_id, "+15195550111", {"first-name": "Ada", "n": 3}),
                envelope(seed.engagement_id, "(519) 555-0112", {"vip": True}),
            ]
        },
        headers=BULK,
    )
    assert created.status == 201
    for resource_object in created.data:
        assert resource_object == api.get(f"/api/v1/envelopes/{resource_object['id']}").data


def set_exit(app: Flask, envelope_id: str, exit_type: str) -> None:
    """The run ended `exit_type`, as the run job records it (docs/flows.md)."""
    with app.app_context():
        db.session.execute(
            update(Envelope)
            .where(Envelope.id == envelope_id)
            .values(exit_type=exit_type, status=exit_type, step=1)
        )
        db.session.commit()


def listed_ids(api: ApiClient, query: str) -> list[str]:
    reply = api.get(f"{URL}?{query}")
    assert reply.status == 200, reply.document
    return [item["id"] for item in reply.data]


def test_list_filters_by_exit_type_status_and_phone_number(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    first, second = campaign.envelope_ids
    set_exit(app, first, "failed")
    assert listed_ids(api, "filter[exit-type]=failed") == [first]
    assert listed_ids(api, "filter[exit-type]=completed") == []
    assert listed_ids(api, "filter[status]=pending") == [second]
    assert listed_ids(api, "filter[phone-number]=%2B19734390088") == [second]
    both = f"filter[engagement]={campaign.engagement_id}&filter[exit-type]=failed"
    assert listed_ids(api, both) == [first]
    assert api.get(URL + f"/{first}").data["attributes"]["exit-type"] == "failed"


def test_list_filters_by_updated_after_a_moment(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    first, second = campaign.envelope_ids
    before = api.get(f"{URL}/{first}").data["attributes"]["updated-at"]
    changed = patch(api, second, meta={"first-name": "Mike"}).data["attributes"]["updated-at"]
    assert changed > before
    assert listed_ids(api, f"filter[updated-at][gt]={before}") == [second]
    # Exactly the last change seen: strictly after it, nothing.
    assert listed_ids(api, f"filter[updated-at][gt]={changed}") == []
    # Any time zone and precision RFC 3339 allows.
    earlier = "2000-01-01t00:00:00.5+05:30"
    assert sorted(listed_ids(api, f"filter[updated-at][gt]={earlier.replace('+', '%2B')}")) == (
        sorted([first, second])
    )
    query = f"filter[updated-at][gt]={before}&sort=updated-at&filter[status]=pending"
    assert listed_ids(api, query) == [second]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("filter[updated-at][gt]=yesterday", "filter[updated-at][gt]"),
        ("filter[updated-at][gt]=2025-01-31T09:30:00", "filter[updated-at][gt]"),
        ("filter[updated-at][gt]=2025-02-30T09:30:00Z", "filter[updated-at][gt]"),
        ("filter[updated-at][gt]=0001-01-01T00:00:00Z", "filter[updated-at][gt]"),
        ("filter[updated-at][gt]=", "filter[updated-at][gt]"),
        ("filter[updated-at]=2025-01-31T09:30:00Z", "filter[updated-at]"),
        ("filter[updated-at][lte]=2025-01-31T09:30:00Z", "filter[updated-at][lte]"),
        ("filter[status][gt]=pending", "filter[status][gt]"),
        ("filter[exit-type]=done", "filter[exit-type]"),
    ],
)
def test_a_bad_filter_is_400_at_its_parameter(
    app: Flask, world: World, api: ApiClient, query: str, parameter: str
) -> None:
    assert_error(api.get(f"{URL}?{query}"), 400, parameter=parameter)


WRONG_VALUES = [
    wrong_value({"phone-number": 5}, "/data/attributes/phone-number"),
    wrong_value({"phone-number": None}, "/data/attributes/phone-number"),
    wrong_value({"phone-number": "hello"}, "/data/attributes/phone-number"),
    wrong_value({"meta": "first-name=Ada"}, "/data/attributes/meta"),
    wrong_value({"meta": ["Ada"]}, "/data/attributes/meta"),
    wrong_value({"meta": {"first-name": {"given": "Ada"}}}, "/data/attributes/meta/first-name"),
    # The run's own attributes are the server's (read-only).
    wrong_value({"exit-type": "completed"}, "/data/attributes/exit-type"),
    wrong_value({"values": {}}, "/data/attributes/values"),
    wrong_value({"path": []}, "/data/attributes/path"),
    wrong_value({"step": 2}, "/data/attributes/step"),
]


test_wrong_value_on_create_is_400, test_wrong_value_on_update_is_400 = wrong_value_tests(
    "envelopes", WRONG_VALUES
)
