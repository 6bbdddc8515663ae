"""Envelope uploads (`ext=bulk`): all or nothing, every bad entry reported at its own pointer,
numbers stored as E.164 and unique per engagement, the activity filled in by the server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from campaign import create_app
from campaign.extensions import db
from tests.assertions import assert_error, row_count, unchanged
from tests.client import ApiClient
from tests.factories import BULK, Credentials, envelope, make_phone_number, resource, schedule

ENVELOPES = "/api/v1/envelopes"
BULK_TYPE = "application/vnd.api+json; ext=bulk"
# Valid North American numbers, distinct, in E.164.
NUMBERS = [f"+1519756{6220 + index}" for index in range(10)]


@dataclass(frozen=True)
class Campaign:
    engagement_id: str
    template_id: str
    phone_number_id: str


def _create(api: ApiClient, body: dict[str, Any]) -> str:
    reply = api.post(f"/api/v1/{body['data']['type']}", body)
    assert reply.status == 201, reply.document
    return reply.data["id"]


def _activity(api: ApiClient, campaign: Campaign) -> str:
    return _create(
        api,
        resource(
            "activities",
            {"name": "Text Blast", "kind": "text"},
            {
                "engagement": ("engagements", campaign.engagement_id),
                "text-template": ("text-templates", campaign.template_id),
                "phone-number": ("phone-numbers", campaign.phone_number_id),
            },
        ),
    )


@pytest.fixture
def campaign(app: Flask, api: ApiClient) -> Campaign:
    """A pending engagement, a template and a sender; no activity and no envelopes yet."""
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    template_id = _create(
        api,
        resource(
            "text-templates",
            {"name": "Weekly Specials", "body": "Hello {{ first-name | default('there') }}"},
        ),
    )
    engagement_id = _create(
        api, resource("engagements", {"name": "Weekly Specials", "direction": "outbound"})
    )
    return Campaign(engagement_id, template_id, phone_id)


def upload(api: ApiClient, items: list[Any], **kwargs: Any) -> Any:
    return api.post(ENVELOPES, {"data": items}, headers=kwargs.pop("headers", BULK), **kwargs)


def stored_numbers(api: ApiClient, engagement_id: str) -> list[str]:
    listed = api.get(f"{ENVELOPES}?filter[engagement]={engagement_id}&page[size]=1000")
    return sorted(item["attributes"]["phone-number"] for item in listed.data)


# --- what works ---


def test_seed_bulk_upload_creates_every_envelope_in_order(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    activity_id = _activity(api, campaign)
    reply = upload(
        api,
        [
            envelope(
                campaign.engagement_id,
                "+15197566220",
                {"first-name": "Alexander", "last-name": "Bell"},
            ),
            envelope(
                campaign.engagement_id,
                "+19734390088",
                {"first-name": "Michael", "last-name": "Morgan"},
            ),
        ],
    )
    assert reply.status == 201, reply.document
    assert reply.headers["Content-Type"] == BULK_TYPE
    assert [item["attributes"]["phone-number"] for item in reply.data] == [
        "+15197566220",
        "+19734390088",
    ]
    assert [item["attributes"]["meta"]["first-name"] for item in reply.data] == [
        "Alexander",
        "Michael",
    ]
    for item in reply.data:
        assert item["attributes"]["status"] == "pending"
        assert item["relationships"]["engagement"]["data"]["id"] == campaign.engagement_id
        assert item["relationships"]["activity"]["data"]["id"] == activity_id
        assert api.get(f"{ENVELOPES}/{item['id']}").data["id"] == item["id"]
    assert row_count(app, "envelopes") == 2


def test_single_envelope_post_is_201_with_location(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    reply = api.post(
        ENVELOPES,
        resource(
            "envelopes",
            {"phone-number": "(519) 756-6220", "meta": {"first-name": "Ada"}},
            {"engagement": ("engagements", campaign.engagement_id)},
        ),
    )
    assert reply.status == 201, reply.document
    assert reply.headers["Content-Type"] == "application/vnd.api+json"
    assert reply.headers["Location"] == f"{ENVELOPES}/{reply.data['id']}"
    assert reply.data["attributes"]["phone-number"] == "+15197566220"
    read = api.get(reply.headers["Location"])
    assert read.data["attributes"]["meta"] == {"first-name": "Ada"}
    assert row_count(app, "envelopes") == 1


@pytest.mark.parametrize(
    ("given", "e164"),
    [
        ("(519) 756-6220", "+15197566220"),
        ("519-756-6220", "+15197566220"),
        ("1 (519) 756-6220", "+15197566220"),
        ("tel:+1-973-439-0088", "+19734390088"),
        ("+1 973 439 0088", "+19734390088"),
        ("416.555.0199", "+14165550199"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_numbers_in_any_parseable_form_are_stored_as_e164(
    api: ApiClient, campaign: Campaign, given: str, e164: str
) -> None:
    reply = upload(api, [envelope(campaign.engagement_id, given)])
    assert reply.status == 201, reply.document
    assert reply.data[0]["attributes"]["phone-number"] == e164
    assert stored_numbers(api, campaign.engagement_id) == [e164]


def test_flat_meta_of_strings_numbers_and_booleans_is_kept(
    api: ApiClient, campaign: Campaign
) -> None:
    meta = {"first-name": "Ada", "balance": 12.5, "visits": 3, "vip": True, "note": ""}
    reply = upload(api, [envelope(campaign.engagement_id, NUMBERS[0], meta)])
    assert reply.status == 201, reply.document
    assert api.get(f"{ENVELOPES}/{reply.data[0]['id']}").data["attributes"]["meta"] == meta


# --- the activity relationship is the server's ---


def test_envelopes_uploaded_after_the_activity_point_at_it(
    api: ApiClient, campaign: Campaign
) -> None:
    activity_id = _activity(api, campaign)
    reply = upload(api, [envelope(campaign.engagement_id, number) for number in NUMBERS[:3]])
    assert reply.status == 201, reply.document
    assert {item["relationships"]["activity"]["data"]["id"] for item in reply.data} == {activity_id}


def test_envelopes_uploaded_before_the_activity_point_at_it_once_it_exists(
    api: ApiClient, campaign: Campaign
) -> None:
    reply = upload(api, [envelope(campaign.engagement_id, number) for number in NUMBERS[:3]])
    assert reply.status == 201, reply.document
    assert [item["relationships"]["activity"]["data"] for item in reply.data] == [None] * 3
    activity_id = _activity(api, campaign)
    listed = api.get(f"{ENVELOPES}?filter[engagement]={campaign.engagement_id}")
    assert {item["relationships"]["activity"]["data"]["id"] for item in listed.data} == {
        activity_id
    }

    scheduled = schedule(api, campaign.engagement_id)
    assert scheduled.status == 202, scheduled.document
    listed = api.get(f"{ENVELOPES}?filter[activity]={activity_id}")
    assert len(listed.data) == 3


def test_client_cannot_set_the_activity_relationship(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    activity_id = _activity(api, campaign)
    item = envelope(campaign.engagement_id, NUMBERS[0])
    item["relationships"]["activity"] = {"data": {"type": "activities", "id": activity_id}}
    with unchanged(app):
        reply = upload(api, [item])
    assert_error(reply, 400, pointer="/data/0/relationships/activity", detail="read-only")


# --- invalid numbers: each reported, nothing written ---


def test_invalid_numbers_at_several_indexes_are_each_reported_and_nothing_is_written(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    items = [envelope(campaign.engagement_id, number) for number in NUMBERS[:8]]
    bad = {1: "not a number", 4: "+1555", 6: "519-756"}
    for index, number in bad.items():
        items[index]["attributes"]["phone-number"] = number
    with unchanged(app):
        reply = upload(api, items)
    assert reply.status == 400, reply.document
    assert sorted(reply.pointers()) == [
        f"/data/{index}/attributes/phone-number" for index in sorted(bad)
    ]
    for error in reply.errors:
        assert error["status"] == "400"
        assert error["title"]
    assert row_count(app, "envelopes") == 0


@pytest.mark.parametrize(
    "number",
    [
        "",
        "hello",
        "+1555",
        "5551234",
        "+999 1234 5678",
        "+1 519 756 62201",
        "x" * 100,
        15197566220,
        None,
        True,
        ["+15197566220"],
        {"number": "+15197566220"},
    ],
    ids=repr,
)
def test_invalid_number_is_400_at_its_pointer(
    app: Flask, api: ApiClient, campaign: Campaign, number: Any
) -> None:
    items = [
        envelope(campaign.engagement_id, NUMBERS[0]),
        envelope(campaign.engagement_id, NUMBERS[1]),
    ]
    items[1]["attributes"]["phone-number"] = number
    with unchanged(app):
        reply = upload(api, items)
    assert_error(reply, 400, pointer="/data/1/attributes/phone-number")
    assert reply.pointers() == ["/data/1/attributes/phone-number"]


def test_missing_number_is_400_required(app: Flask, api: ApiClient, campaign: Campaign) -> None:
    items = [
        envelope(campaign.engagement_id, NUMBERS[0]),
        envelope(campaign.engagement_id, NUMBERS[1]),
    ]
    del items[0]["attributes"]["phone-number"]
    with unchanged(app):
        reply = upload(api, items)
    assert_error(reply, 400, pointer="/data/0/attributes/phone-number", detail="required")


# --- duplicates: within the upload and against stored envelopes ---


def test_duplicate_number_within_upload_is_409_at_the_second(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    items = [
        envelope(campaign.engagement_id, number)
        for number in (NUMBERS[0], NUMBERS[1], NUMBERS[0], NUMBERS[2])
    ]
    with unchanged(app):
        reply = upload(api, items)
    error = assert_error(
        reply, 409, pointer="/data/2/attributes/phone-number", detail="first as entry 0"
    )
    assert NUMBERS[0] in error["detail"]
    assert reply.pointers() == ["/data/2/attributes/phone-number"]


def test_duplicate_in_another_format_is_still_a_duplicate(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    items = [
        envelope(campaign.engagement_id, "+15197566220"),
        envelope(campaign.engagement_id, "(519) 756-6220"),
        envelope(campaign.engagement_id, "tel:+1-519-756-6220"),
    ]
    with unchanged(app):
        reply = upload(api, items)
    assert reply.status == 409, reply.document
    assert reply.pointers() == [
        "/data/1/attributes/phone-number",
        "/data/2/attributes/phone-number",
    ]


def test_number_already_stored_for_the_engagement_is_409_at_its_entry(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    first = upload(api, [envelope(campaign.engagement_id, NUMBERS[0])])
    assert first.status == 201
    items = [
        envelope(campaign.engagement_id, NUMBERS[1]),
        envelope(campaign.engagement_id, "(519) 756-6220"),
    ]
    with unchanged(app):
        reply = upload(api, items)
    assert_error(reply, 409, pointer="/data/1/attributes/phone-number", detail="already")
    assert reply.pointers() == ["/data/1/attributes/phone-number"]
    assert stored_numbers(api, campaign.engagement_id) == [NUMBERS[0]]


def test_same_number_in_another_engagement_is_fine(api: ApiClient, campaign: Campaign) -> None:
    other = _create(api, resource("engagements", {"name": "Other"}))
    assert upload(api, [envelope(campaign.engagement_id, NUMBERS[0])]).status == 201
    reply = upload(api, [envelope(other, NUMBERS[0])])
    assert reply.status == 201, reply.document


def test_single_envelope_duplicate_is_409(app: Flask, api: ApiClient, campaign: Campaign) -> None:
    assert upload(api, [envelope(campaign.engagement_id, NUMBERS[0])]).status == 201
    with unchanged(app):
        reply = api.post(ENVELOPES, {"data": envelope(campaign.engagement_id, NUMBERS[0])})
    assert_error(reply, 409, pointer="/data/attributes/phone-number", detail="already")


def test_changing_a_number_to_a_stored_one_is_409(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    created = upload(
        api,
        [
            envelope(campaign.engagement_id, NUMBERS[0]),
            envelope(campaign.engagement_id, NUMBERS[1]),
        ],
    )
    second = created.data[1]["id"]
    with unchanged(app):
        reply = api.patch(
            f"{ENVELOPES}/{second}",
            resource("envelopes", {"phone-number": "(519) 756-6220"}, id_=second),
        )
    assert_error(reply, 409, pointer="/data/attributes/phone-number", detail="already")


def test_mixed_problems_are_all_reported_with_status_400(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    items = [
        envelope(campaign.engagement_id, NUMBERS[0]),
        envelope(campaign.engagement_id, "hello"),
        envelope(campaign.engagement_id, NUMBERS[0]),
    ]
    with unchanged(app):
        reply = upload(api, items)
    # A 400 and a 409 together: the document's status is the general 400.
    assert reply.status == 400
    assert {(error["status"], error["source"]["pointer"]) for error in reply.errors} == {
        ("400", "/data/1/attributes/phone-number"),
        ("409", "/data/2/attributes/phone-number"),
    }


# --- meta ---

BAD_META = [
    ("nested object", {"name": {"first": "Ada"}}, "/data/0/attributes/meta/name"),
    ("list value", {"tags": ["a", "b"]}, "/data/0/attributes/meta/tags"),
    ("null value", {"first-name": None}, "/data/0/attributes/meta/first-name"),
    ("key with a slash", {"a/b": {"c": 1}}, "/data/0/attributes/meta/a~1b"),
    ("too large", {f"k{index}": "x" * 100 for index in range(30)}, "/data/0/attributes/meta"),
    ("empty key", {"": "x"}, "/data/0/attributes/meta"),
    ("key too long", {"k" * 65: "x"}, "/data/0/attributes/meta"),
    ("not an object", "first-name=Ada", "/data/0/attributes/meta"),
    ("an array", [{"first-name": "Ada"}], "/data/0/attributes/meta"),
    ("null", None, "/data/0/attributes/meta"),
]


@pytest.mark.parametrize(
    ("label", "meta", "pointer"), BAD_META, ids=[label for label, _, _ in BAD_META]
)
def test_bad_meta_is_400_at_its_pointer(
    app: Flask, api: ApiClient, campaign: Campaign, label: str, meta: Any, pointer: str
) -> None:
    items = [envelope(campaign.engagement_id, NUMBERS[0])]
    items[0]["attributes"]["meta"] = meta
    with unchanged(app):
        reply = upload(api, items)
    assert_error(reply, 400, pointer=pointer)


def test_too_large_meta_names_the_limit(app: Flask, api: ApiClient, campaign: Campaign) -> None:
    limit = app.config["MAX_META_BYTES"]
    items = [envelope(campaign.engagement_id, NUMBERS[0], {"note": "x" * limit})]
    with unchanged(app):
        reply = upload(api, items)
    assert_error(reply, 400, pointer="/data/0/attributes/meta", detail=str(limit))


# --- document shape of a bulk upload ---

# (label, the `data` array built from a valid entry, status, pointer)
BAD_ENTRIES: list[tuple[str, Any, int, str]] = [
    ("entry not an object", lambda ok: [ok, 5], 400, "/data/1"),
    ("entry null", lambda ok: [ok, None], 400, "/data/1"),
    (
        "entry with client id",
        lambda ok: [ok, {**ok, "id": "yrbCdxqV2ZMdQBCszhA7TZ"}],
        403,
        "/data/1/id",
    ),
    ("entry of another type", lambda ok: [ok, {**ok, "type": "engagements"}], 409, "/data/1/type"),
    (
        "entry type not a string",
        lambda ok: [ok, {**ok, "type": ["envelopes"]}],
        400,
        "/data/1/type",
    ),
    (
        "entry attributes null",
        lambda ok: [ok, {**ok, "attributes": None}],
        400,
        "/data/1/attributes",
    ),
    (
        "entry relationships 5",
        lambda ok: [ok, {**ok, "relationships": 5}],
        400,
        "/data/1/relationships",
    ),
    (
        "entry without engagement",
        lambda ok: [ok, {**ok, "relationships": {}}],
        400,
        "/data/1/relationships/engagement",
    ),
    (
        "engagement linkage of another type",
        lambda ok: [
            ok,
            {**ok, "relationships": {"engagement": {"data": {"type": "activities", "id": "x"}}}},
        ],
        400,
        "/data/1/relationships/engagement/data",
    ),
    (
        "unknown engagement",
        lambda ok: [
            ok,
            {
                **ok,
                "relationships": {
                    "engagement": {"data": {"type": "engagements", "id": "yrbCdxqV2ZMdQBCszhA7TZ"}}
                },
            },
        ],
        404,
        "/data/1/relationships/engagement/data",
    ),
    ("unknown member", lambda ok: [ok, {**ok, "colour": "red"}], 400, "/data/1/colour"),
    (
        "read-only status",
        lambda ok: [ok, {**ok, "attributes": {**ok["attributes"], "status": "completed"}}],
        400,
        "/data/1/attributes/status",
    ),
    (
        "unknown attribute",
        lambda ok: [ok, {**ok, "attributes": {**ok["attributes"], "name": "Ada"}}],
        400,
        "/data/1/attributes/name",
    ),
    ("empty array", lambda ok: [], 400, "/data"),
]


@pytest.mark.parametrize(
    ("label", "build", "status", "pointer"), BAD_ENTRIES, ids=[label for label, *_ in BAD_ENTRIES]
)
def test_bad_entry_is_refused_at_its_index(
    app: Flask,
    api: ApiClient,
    campaign: Campaign,
    label: str,
    build: Any,
    status: int,
    pointer: str,
) -> None:
    ok = envelope(campaign.engagement_id, NUMBERS[0])
    # The second entry gets another number so only the corruption is wrong.
    items = build(ok)
    if (
        len(items) == 2
        and isinstance(items[1], dict)
        and isinstance(items[1].get("attributes"), dict)
    ):
        items[1] = {
            **items[1],
            "attributes": {**items[1]["attributes"], "phone-number": NUMBERS[1]},
        }
    with unchanged(app):
        reply = upload(api, items)
    assert_error(reply, status, pointer=pointer)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/vnd.api+json",
        "application/json",
        None,
        'application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"',
    ],
)
def test_array_without_ext_bulk_is_400(
    app: Flask, api: ApiClient, campaign: Campaign, content_type: str | None
) -> None:
    items = [envelope(campaign.engagement_id, NUMBERS[0])]
    with unchanged(app):
        reply = upload(api, items, headers={"Content-Type": content_type})
    assert_error(reply, 400, pointer="/data", detail="ext=bulk")


def test_bulk_to_a_non_pending_engagement_is_409(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    _activity(api, campaign)
    assert upload(api, [envelope(campaign.engagement_id, NUMBERS[0])]).status == 201
    scheduled = schedule(api, campaign.engagement_id)
    assert scheduled.status == 202
    items = [envelope(campaign.engagement_id, number) for number in NUMBERS[1:4]]
    with unchanged(app):
        reply = upload(api, items)
    assert reply.status == 409, reply.document
    assert reply.pointers() == [
        f"/data/{index}/relationships/engagement/data" for index in range(3)
    ]
    assert "scheduled" in reply.errors[0]["detail"]


def test_bulk_to_a_cancelled_engagement_is_409(
    app: Flask, api: ApiClient, campaign: Campaign
) -> None:
    cancelled = api.patch(
        f"/api/v1/engagements/{campaign.engagement_id}",
        resource("engagements", {"status": "cancelled"}, id_=campaign.engagement_id),
    )
    assert cancelled.status == 200
    with unchanged(app):
        reply = upload(api, [envelope(campaign.engagement_id, NUMBERS[0])])
    assert_error(reply, 409, pointer="/data/0/relationships/engagement/data", detail="cancelled")


def test_bulk_to_another_accounts_engagement_is_404(
    app: Flask, api: ApiClient, other_api: ApiClient
) -> None:
    theirs = _create(other_api, resource("engagements", {"name": "Theirs"}))
    with unchanged(app):
        reply = upload(api, [envelope(theirs, NUMBERS[0])])
    assert_error(reply, 404, pointer="/data/0/relationships/engagement/data")


# --- size limits: CAMPAIGN_MAX_BULK ---


@pytest.fixture
def small_bulk_api(app_environment: dict[str, str], account: Credentials) -> Iterator[ApiClient]:
    """A client of a second app on the same database and Redis with CAMPAIGN_MAX_BULK=5."""
    small = create_app({**app_environment, "CAMPAIGN_MAX_BULK": "5"})
    small.config["TESTING"] = True
    yield ApiClient(small.test_client(), account)
    with small.app_context():
        db.session.remove()
        db.engine.dispose()


def test_upload_at_the_bulk_limit_is_accepted(
    app: Flask, small_bulk_api: ApiClient, campaign: Campaign
) -> None:
    items = [envelope(campaign.engagement_id, number) for number in NUMBERS[:5]]
    reply = upload(small_bulk_api, items)
    assert reply.status == 201, reply.document
    assert row_count(app, "envelopes") == 5


def test_upload_over_the_bulk_limit_is_413(
    app: Flask, small_bulk_api: ApiClient, campaign: Campaign
) -> None:
    items = [envelope(campaign.engagement_id, number) for number in NUMBERS[:6]]
    with unchanged(app):
        reply = upload(small_bulk_api, items)
    error = assert_error(reply, 413, pointer="/data", detail="CAMPAIGN_MAX_BULK")
    assert "6" in error["detail"] and "5" in error["detail"]
    assert reply.headers["Content-Type"] == "application/vnd.api+json"


def test_over_the_limit_is_413_even_when_entries_are_invalid(
    app: Flask, small_bulk_api: ApiClient, campaign: Campaign
) -> None:
    # The size is checked first: a huge upload is not validated entry by entry.
    items = [envelope(campaign.engagement_id, "hello") for _ in range(6)]
    with unchanged(app):
        reply = upload(small_bulk_api, items)
    assert_error(reply, 413, pointer="/data")


def test_body_larger_than_a_full_upload_is_413(
    app: Flask, small_bulk_api: ApiClient, campaign: Campaign
) -> None:
    # Fewer entries than the limit, but far more bytes than five of them may take.
    items = [envelope(campaign.engagement_id, NUMBERS[0], {"note": "x" * 100_000})]
    with unchanged(app):
        reply = upload(small_bulk_api, items)
    assert_error(reply, 413)
    assert reply.headers["Content-Type"] == "application/vnd.api+json"


@pytest.mark.parametrize("number", ["12", "+1 555", "hello", "+15550000000", 15197566220, "9" * 40])
def test_a_bad_number_gets_the_same_error_alone_and_in_a_bulk_upload(
    app: Flask, api: ApiClient, campaign: Campaign, number: Any
) -> None:
    """One owner of the message (campaign/e164.py), whichever way the envelope arrives."""
    item = envelope(campaign.engagement_id, number)
    with unchanged(app):
        alone = api.post(ENVELOPES, {"data": item})
        bulk = upload(api, [item])

    single_error = assert_error(alone, 400, pointer="/data/attributes/phone-number")
    bulk_error = assert_error(bulk, 400, pointer="/data/0/attributes/phone-number")
    assert single_error["detail"] == bulk_error["detail"]
    assert single_error["title"] == bulk_error["title"]
