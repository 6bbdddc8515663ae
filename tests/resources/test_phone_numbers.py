"""`phone-numbers` CRUD: E.164 storage from any input form, uniqueness per account, throughput
limits, attribute values refused at their pointer, and a delete refused while an engagement still
sends from the number. (Allotments and their caps: tests/security/test_sender_numbers.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.client import TIMESTAMP, ApiClient, Reply, assert_created
from tests.factories import (
    Credentials,
    allot,
    build_seed_campaign,
    make_phone_number,
    resource,
    schedule,
)
from tests.world import wrong_value, wrong_value_tests

URL = "/api/v1/phone-numbers"


@pytest.fixture(autouse=True)
def allotted(app: Flask, account: Credentials) -> None:
    """The operator has allotted +15195550101..+15195550149 to `firstbank`."""
    with app.app_context():
        for last in range(101, 150):
            allot(account_id=account.account_id, number=f"+15195550{last}")


def create(api: ApiClient, **attributes: Any) -> Reply:
    return api.post(URL, resource("phone-numbers", attributes))


def test_create_stores_national_number_as_e164_with_default_throughput(
    app: Flask, api: ApiClient
) -> None:
    data = assert_created(create(api, number="(519) 555-0101", name="Main line"), "phone-numbers")
    assert data["attributes"]["number"] == "+15195550101"
    assert data["attributes"]["name"] == "Main line"
    assert data["attributes"]["throughput"] == app.config["DEFAULT_THROUGHPUT"]

    read = api.get(f"{URL}/{data['id']}")
    assert read.status == 200
    assert read.data == data


def test_create_keeps_the_given_throughput(api: ApiClient) -> None:
    data = assert_created(create(api, number="+15195550102", throughput=30), "phone-numbers")
    assert data["attributes"]["throughput"] == 30


@pytest.mark.parametrize("throughput", [0, -1, 10_001])
def test_throughput_outside_its_range_is_rejected_with_pointer(
    api: ApiClient, throughput: int
) -> None:
    reply = create(api, number="+15195550103", throughput=throughput)
    assert reply.status == 400
    assert reply.pointers() == ["/data/attributes/throughput"]
    assert api.get(URL).data == []


def test_invalid_number_is_rejected_with_pointer(api: ApiClient) -> None:
    reply = create(api, number="555-01")
    assert reply.status == 400
    assert reply.pointers() == ["/data/attributes/number"]
    assert api.get(URL).data == []


def test_duplicate_number_in_another_form_is_a_conflict(api: ApiClient) -> None:
    assert_created(create(api, number="+15195550104"), "phone-numbers")
    reply = create(api, number="519-555-0104")
    assert reply.status == 409
    assert reply.pointers() == ["/data/attributes/number"]
    assert len(api.get(URL).data) == 1


def test_same_number_cannot_belong_to_two_accounts(api: ApiClient, other_api: ApiClient) -> None:
    assert_created(create(api, number="+15195550105"), "phone-numbers")
    refused = create(other_api, number="+15195550105")
    assert refused.status == 403
    assert refused.pointers() == ["/data/attributes/number"]
    assert other_api.get(URL).data == []


def test_patch_changes_only_the_given_attributes(api: ApiClient) -> None:
    created = assert_created(
        create(api, number="+15195550106", name="Old", throughput=5), "phone-numbers"
    )
    reply = api.patch(
        f"{URL}/{created['id']}", resource("phone-numbers", {"name": "New"}, id_=created["id"])
    )
    assert reply.status == 200
    attributes = reply.data["attributes"]
    assert attributes["name"] == "New"
    assert attributes["number"] == "+15195550106"
    assert attributes["throughput"] == 5
    assert attributes["created-at"] == created["attributes"]["created-at"]
    assert TIMESTAMP.match(attributes["updated-at"])
    assert attributes["updated-at"] > attributes["created-at"]
    assert api.get(f"{URL}/{created['id']}").data["attributes"] == attributes


def test_patch_number_is_stored_as_e164(api: ApiClient) -> None:
    created = assert_created(create(api, number="+15195550107"), "phone-numbers")
    reply = api.patch(
        f"{URL}/{created['id']}",
        resource("phone-numbers", {"number": "519 555 0108"}, id_=created["id"]),
    )
    assert reply.status == 200
    assert reply.data["attributes"]["number"] == "+15195550108"


def test_patch_to_another_phone_numbers_number_is_a_conflict(api: ApiClient) -> None:
    assert_created(create(api, number="+15195550109"), "phone-numbers")
    second = assert_created(create(api, number="+15195550110"), "phone-numbers")
    reply = api.patch(
        f"{URL}/{second['id']}",
        resource("phone-numbers", {"number": "+15195550109"}, id_=second["id"]),
    )
    assert reply.status == 409
    assert reply.pointers() == ["/data/attributes/number"]
    assert api.get(f"{URL}/{second['id']}").data["attributes"]["number"] == "+15195550110"


def test_patch_throughput_outside_its_range_is_rejected(api: ApiClient) -> None:
    created = assert_created(create(api, number="+15195550111", throughput=2), "phone-numbers")
    reply = api.patch(
        f"{URL}/{created['id']}", resource("phone-numbers", {"throughput": 0}, id_=created["id"])
    )
    assert reply.status == 400
    assert reply.pointers() == ["/data/attributes/throughput"]
    assert api.get(f"{URL}/{created['id']}").data["attributes"]["throughput"] == 2


def test_delete_answers_204_and_the_number_is_gone(api: ApiClient) -> None:
    created = assert_created(create(api, number="+15195550112"), "phone-numbers")
    deleted = api.delete(f"{URL}/{created['id']}")
    assert deleted.status == 204
    assert deleted.document is None
    assert api.get(f"{URL}/{created['id']}").status == 404
    assert api.delete(f"{URL}/{created['id']}").status == 404
    assert api.get(URL).data == []


def test_list_filters_on_number(api: ApiClient) -> None:
    first = assert_created(create(api, number="+15195550113"), "phone-numbers")
    assert_created(create(api, number="+15195550114"), "phone-numbers")
    listed = api.get(f"{URL}?filter[number]=%2B15195550113")
    assert listed.status == 200
    assert [item["id"] for item in listed.data] == [first["id"]]


def test_delete_is_refused_while_an_engagement_using_it_is_scheduled(
    app: Flask, api: ApiClient
) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    seed = build_seed_campaign(api, phone_id)
    scheduled = schedule(api, seed.engagement_id)
    assert scheduled.status == 202

    refused = api.delete(f"{URL}/{phone_id}")
    assert refused.status == 409
    assert api.get(f"{URL}/{phone_id}").status == 200

    # Once the engagement can no longer send, the number may go.
    cancelled = api.patch(
        f"/api/v1/engagements/{seed.engagement_id}",
        resource("engagements", {"status": "cancelled"}, id_=seed.engagement_id),
    )
    assert cancelled.status == 200
    assert api.delete(f"{URL}/{phone_id}").status == 204
    assert api.get(f"{URL}/{phone_id}").status == 404


def test_delete_is_allowed_while_the_engagement_using_it_is_pending(
    app: Flask, api: ApiClient
) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    seed = build_seed_campaign(api, phone_id)
    assert api.delete(f"{URL}/{phone_id}").status == 204
    # The activity stays, without a sender, so scheduling now says why it cannot send.
    activity = api.get(f"/api/v1/activities/{seed.activity_id}")
    assert activity.data["relationships"]["phone-number"]["data"] is None
    refused = schedule(api, seed.engagement_id)
    assert refused.status == 409


WRONG_VALUES = [
    wrong_value({"number": 5}, "/data/attributes/number"),
    wrong_value({"number": "not a number"}, "/data/attributes/number"),
    wrong_value({"number": "+1555"}, "/data/attributes/number"),
    wrong_value({"throughput": "fast"}, "/data/attributes/throughput"),
    wrong_value({"throughput": 1.5}, "/data/attributes/throughput"),
    wrong_value({"throughput": True}, "/data/attributes/throughput"),
    wrong_value({"throughput": 10**30}, "/data/attributes/throughput"),
    wrong_value({"name": 5}, "/data/attributes/name"),
    wrong_value({"name": "x" * 256}, "/data/attributes/name"),
]


test_wrong_value_on_create_is_400, test_wrong_value_on_update_is_400 = wrong_value_tests(
    "phone-numbers", WRONG_VALUES
)
