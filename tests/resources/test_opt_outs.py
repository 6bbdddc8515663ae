"""`opt-outs`: one number or a suppression list (`ext=bulk`, all or none) opted out as E.164,
re-imports that change nothing, filters, tenancy, and DELETE to opt back in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from campaign import create_app
from campaign.extensions import db
from tests.assertions import assert_error, row_count, unchanged
from tests.client import ApiClient, Reply, assert_created
from tests.factories import BULK, Credentials, resource
from tests.world import with_attributes

URL = "/api/v1/opt-outs"


def opt_out(number: Any) -> dict[str, Any]:
    return resource("opt-outs", {"phone-number": number})["data"]


def create(api: ApiClient, number: Any) -> Reply:
    return api.post(URL, {"data": opt_out(number)})


def upload(api: ApiClient, items: list[Any]) -> Reply:
    return api.post(URL, {"data": items}, headers=BULK)


def listed(api: ApiClient, query: str = "") -> list[tuple[str, str]]:
    reply = api.get(f"{URL}?page[size]=100{query}")
    assert reply.status == 200, reply.document
    return [
        (item["attributes"]["phone-number"], item["attributes"]["source"]) for item in reply.data
    ]


def test_create_stores_the_number_as_e164_from_the_api(api: ApiClient) -> None:
    data = assert_created(create(api, "(519) 756-6220"), "opt-outs")

    assert data["attributes"]["phone-number"] == "+15197566220"
    assert data["attributes"]["source"] == "api"
    assert data["attributes"]["created-at"] == data["attributes"]["updated-at"]
    read = api.get(f"{URL}/{data['id']}")
    assert read.status == 200
    assert read.data == data


def test_bulk_create_stores_every_number_in_order(app: Flask, api: ApiClient) -> None:
    reply = upload(api, [opt_out("+15197566221"), opt_out("519-756-6222")])

    assert reply.status == 201, reply.document
    assert [item["attributes"]["phone-number"] for item in reply.data] == [
        "+15197566221",
        "+15197566222",
    ]
    assert row_count(app, "opt_outs") == 2


def test_bulk_with_one_bad_number_is_400_at_it_and_stores_nothing(
    app: Flask, api: ApiClient
) -> None:
    items = [opt_out("+15197566221"), opt_out("not a number"), opt_out("+15197566223")]
    with unchanged(app):
        reply = upload(api, items)

    assert_error(reply, 400, pointer="/data/1/attributes/phone-number")
    assert reply.pointers() == ["/data/1/attributes/phone-number"]


def test_bulk_entry_without_a_number_is_400_at_its_pointer(app: Flask, api: ApiClient) -> None:
    with unchanged(app):
        reply = upload(api, [opt_out("+15197566221"), {"type": "opt-outs", "attributes": {}}])

    assert_error(reply, 400, pointer="/data/1/attributes/phone-number", detail="required")


@pytest.fixture
def small_bulk_api(app_environment: dict[str, str], account: Credentials) -> Iterator[ApiClient]:
    """A client of a second app on the same database and Redis with CAMPAIGN_MAX_BULK=2."""
    small = create_app({**app_environment, "CAMPAIGN_MAX_BULK": "2"})
    small.config["TESTING"] = True
    yield ApiClient(small.test_client(), account)
    with small.app_context():
        db.session.remove()
        db.engine.dispose()


def test_bulk_over_the_limit_is_413_and_stores_nothing(
    app: Flask, small_bulk_api: ApiClient
) -> None:
    items = [opt_out(f"+1519756622{last}") for last in range(3)]
    with unchanged(app):
        reply = upload(small_bulk_api, items)

    assert_error(reply, 413, pointer="/data", detail="limit is 2")
    assert upload(small_bulk_api, items[:2]).status == 201


def test_opting_out_again_keeps_the_first_opt_out_and_answers_200(
    app: Flask, api: ApiClient
) -> None:
    first = assert_created(create(api, "+15197566220"), "opt-outs")

    again = create(api, "519 756 6220")
    reimport = upload(api, [opt_out("+15197566220"), opt_out("+1 519 756 6220")])

    assert again.status == 200, again.document
    assert again.data == first
    assert reimport.status == 200, reimport.document
    assert reimport.data == [first]
    assert row_count(app, "opt_outs") == 1


def test_a_reimport_with_new_numbers_is_201_and_keeps_those_on_file(api: ApiClient) -> None:
    first = assert_created(create(api, "+15197566220"), "opt-outs")

    reply = upload(api, [opt_out("+15197566221"), opt_out("+15197566220")])

    assert reply.status == 201, reply.document
    assert [item["attributes"]["phone-number"] for item in reply.data] == [
        "+15197566221",
        "+15197566220",
    ]
    assert reply.data[1] == first


def test_list_filters_by_phone_number_and_source(app: Flask, api: ApiClient) -> None:
    upload(api, [opt_out("+15197566220"), opt_out("+15197566221")])

    assert sorted(listed(api)) == [("+15197566220", "api"), ("+15197566221", "api")]
    assert listed(api, "&filter[phone-number]=%2B15197566221") == [("+15197566221", "api")]
    assert len(listed(api, "&filter[source]=api")) == 2
    assert listed(api, "&filter[source]=keyword") == []


def test_an_unknown_source_filter_is_400_naming_the_sources(api: ApiClient) -> None:
    reply = api.get(f"{URL}?filter[source]=carrier-pigeon")

    assert_error(reply, 400, parameter="filter[source]", detail="keyword, carrier, api")


def test_list_sorts_and_pages_with_a_cursor(api: ApiClient) -> None:
    assert upload(api, [opt_out(f"+1519756622{last}") for last in range(3)]).status == 201

    page = api.get(f"{URL}?page[size]=2&sort=-created-at")
    assert page.status == 200
    assert len(page.data) == 2
    rest = api.get(page.document["links"]["next"])
    assert rest.status == 200
    numbers = [item["attributes"]["phone-number"] for item in page.data + rest.data]
    assert sorted(numbers) == [f"+1519756622{last}" for last in range(3)]


def test_another_accounts_opt_out_is_not_found_and_not_listed(
    app: Flask, api: ApiClient, other_api: ApiClient
) -> None:
    theirs = assert_created(create(other_api, "+15197566220"), "opt-outs")

    assert_error(api.get(f"{URL}/{theirs['id']}"), 404)
    with unchanged(app):
        assert_error(api.delete(f"{URL}/{theirs['id']}"), 404)
    assert listed(api) == []
    # The same number may be opted out of each account on its own.
    assert_created(create(api, "+15197566220"), "opt-outs")
    assert listed(other_api) == [("+15197566220", "api")]


def test_delete_opts_the_number_back_in(app: Flask, api: ApiClient) -> None:
    data = assert_created(create(api, "+15197566220"), "opt-outs")

    deleted = api.delete(f"{URL}/{data['id']}")

    assert deleted.status == 204
    assert_error(api.get(f"{URL}/{data['id']}"), 404)
    assert_error(api.delete(f"{URL}/{data['id']}"), 404)
    assert row_count(app, "opt_outs") == 0
    assert create(api, "+15197566220").status == 201


@pytest.mark.parametrize(
    ("name", "value", "detail"),
    [("source", "carrier", "read-only"), ("created-at", "2026-01-01T00:00:00Z", "read-only"),
     ("colour", "red", "unknown attribute")],
)  # fmt: skip
def test_a_member_clients_may_not_write_is_400_at_it(
    app: Flask, api: ApiClient, name: str, value: str, detail: str
) -> None:
    body = {"data": with_attributes(opt_out("+15197566220"), {name: value})}
    with unchanged(app):
        single = api.post(URL, body)
        bulk = upload(api, [opt_out("+15197566221"), body["data"]])

    assert_error(single, 400, pointer=f"/data/attributes/{name}", detail=detail)
    assert_error(bulk, 400, pointer=f"/data/1/attributes/{name}", detail=detail)


def test_wrong_type_is_409_and_a_client_id_403(app: Flask, api: ApiClient) -> None:
    with unchanged(app):
        wrong = api.post(URL, {"data": {**opt_out("+15197566220"), "type": "envelopes"}})
        with_id = api.post(URL, {"data": {**opt_out("+15197566220"), "id": "x" * 22}})

    assert_error(wrong, 409, pointer="/data/type")
    assert_error(with_id, 403, pointer="/data/id")


def test_a_single_bad_number_is_400_at_its_attribute(app: Flask, api: ApiClient) -> None:
    with unchanged(app):
        reply = create(api, 5195550100)

    assert_error(reply, 400, pointer="/data/attributes/phone-number", detail="string")


def test_opt_outs_cannot_be_changed(app: Flask, api: ApiClient) -> None:
    data = assert_created(create(api, "+15197566220"), "opt-outs")
    body = {"data": {"type": "opt-outs", "id": data["id"], "attributes": {"phone-number": "+1"}}}

    with unchanged(app):
        reply = api.patch(f"{URL}/{data['id']}", body)

    assert_error(reply, 405)
    assert set(reply.headers["Allow"].split(", ")) >= {"GET", "DELETE"}
    assert "PATCH" not in reply.headers["Allow"]
