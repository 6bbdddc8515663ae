"""Hostile input to the API: numbers past JSON's safe range, moments at the ends of the calendar,
non-ASCII credentials, forged cursors and deep nesting. Each is a pinned 4xx JSON:API error that
changes nothing stored."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from flask import Flask

from tests.assertions import assert_error, unchanged
from tests.client import ApiClient
from tests.factories import BULK, SeedCampaign, envelope, resource, seed_campaign

ENVELOPES = "/api/v1/envelopes"
ENGAGEMENTS = "/api/v1/engagements"


@pytest.fixture
def seed(app: Flask, api: ApiClient) -> SeedCampaign:
    return seed_campaign(app, api)


def _envelope_body(engagement_id: str, meta_json: str, number: str = "+14165550199") -> str:
    """A single-envelope document whose meta is written verbatim, so numbers keep their digits."""
    linkage = orjson.dumps({"engagement": {"data": {"type": "engagements", "id": engagement_id}}})
    return (
        f'{{"data": {{"type": "envelopes", "attributes": {{"phone-number": "{number}", '
        f'"meta": {meta_json}}}, "relationships": {linkage.decode()}}}}}'
    )


# --- meta numbers ---

UNSAFE_NUMBERS = [
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "1e308",
    "-1e308",
    "1e16",
    "9007199254740992",
    "-9007199254740992",
    "18446744073709551615",
]


@pytest.mark.parametrize("number", UNSAFE_NUMBERS)
def test_meta_number_outside_the_safe_range_is_refused_on_create(
    app: Flask, api: ApiClient, seed: SeedCampaign, number: str
) -> None:
    with unchanged(app):
        reply = api.post(ENVELOPES, raw=_envelope_body(seed.engagement_id, f'{{"acct": {number}}}'))
    assert_error(reply, 400, pointer="/data/attributes/meta/acct", detail="2**53")


@pytest.mark.parametrize("number", UNSAFE_NUMBERS)
def test_meta_number_outside_the_safe_range_is_refused_in_bulk(
    app: Flask, api: ApiClient, seed: SeedCampaign, number: str
) -> None:
    good = orjson.dumps(envelope(seed.engagement_id, "+14165550198")).decode()
    bad = orjson.loads(_envelope_body(seed.engagement_id, "{}"))["data"]
    bad_json = orjson.dumps(bad).decode().replace('"meta":{}', f'"meta":{{"acct":{number}}}')
    with unchanged(app):
        reply = api.post(ENVELOPES, raw=f'{{"data": [{good}, {bad_json}]}}', headers=BULK)
    assert_error(reply, 400, pointer="/data/1/attributes/meta/acct")
    assert len(reply.errors) == 1


@pytest.mark.parametrize("number", UNSAFE_NUMBERS)
def test_meta_number_outside_the_safe_range_is_refused_on_patch(
    app: Flask, api: ApiClient, seed: SeedCampaign, number: str
) -> None:
    envelope_id = seed.envelope_ids[0]
    body = (
        f'{{"data": {{"type": "envelopes", "id": "{envelope_id}",'
        f' "attributes": {{"meta": {{"acct": {number}}}}}}}}}'
    )
    with unchanged(app):
        reply = api.patch(f"{ENVELOPES}/{envelope_id}", raw=body)
    assert_error(reply, 400, pointer="/data/attributes/meta/acct")
    assert api.get(f"{ENVELOPES}/{envelope_id}").status == 200


SAFE_META = {
    "top": 9007199254740991,
    "bottom": -9007199254740991,
    "rate": 0.1,
    "tiny": 1e-300,
    "whole": 5.0,
    "flag": True,
    "acct": "123456789012345678901234567890",
}


def test_meta_numbers_inside_the_safe_range_are_stored_and_read_back_exactly(
    api: ApiClient, seed: SeedCampaign
) -> None:
    single = api.post(
        ENVELOPES, raw=_envelope_body(seed.engagement_id, orjson.dumps(SAFE_META).decode())
    )
    assert single.status == 201, single.document
    bulk = api.post(
        ENVELOPES,
        {"data": [envelope(seed.engagement_id, "+14165550198", SAFE_META)]},
        headers=BULK,
    )
    assert bulk.status == 201, bulk.document
    for created in (single.data, bulk.data[0]):
        assert created["attributes"]["meta"] == SAFE_META
        read = api.get(f"{ENVELOPES}/{created['id']}")
        assert read.status == 200
        assert read.data["attributes"]["meta"] == SAFE_META
    listed = api.get(f"{ENVELOPES}?page[size]=100")
    assert listed.status == 200


# --- meta nesting ---


def _nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("levels", [1, 20])
def test_nested_meta_is_refused_at_its_key(
    app: Flask, api: ApiClient, seed: SeedCampaign, levels: int
) -> None:
    meta = {"acct": _nested(levels)}
    with unchanged(app):
        reply = api.post(
            ENVELOPES, raw=_envelope_body(seed.engagement_id, orjson.dumps(meta).decode())
        )
    assert_error(reply, 400, pointer="/data/attributes/meta/acct", detail="flat")


def test_meta_nested_254_levels_is_refused_before_parsing(
    app: Flask, api: ApiClient, seed: SeedCampaign
) -> None:
    meta = orjson.dumps({"acct": _nested(253)}).decode()
    with unchanged(app):
        reply = api.post(ENVELOPES, raw=_envelope_body(seed.engagement_id, meta))
    # The document, data, attributes and meta are four levels; acct and 27 of its `a`s fill 32.
    pointer = "/data/attributes/meta/acct" + "/a" * 28
    assert_error(reply, 400, pointer=pointer, detail="more than 32 deep")


def _deep_array(levels: int, leaf: str) -> str:
    return "[" * levels + orjson.dumps(leaf).decode() + "]" * levels


# (label, method, path, body, extra headers): bodies nested 1,000 levels (inside orjson's
# limit of 1024) holding a NUL string, which Python code walking them used to recurse into.
DEEP_BODIES = [
    ("top-level array", "POST", ENVELOPES, _deep_array(1000, "\x00"), {}),
    ("bulk", "POST", ENVELOPES, '{"data": ' + _deep_array(999, "\x00") + "}", BULK),
    (
        "attribute",
        "POST",
        "/api/v1/text-templates",
        '{"data": {"type": "text-templates", "attributes": {"name": '
        + _deep_array(996, "\x00")
        + "}}}",
        {},
    ),
    (
        "document meta",
        "POST",
        ENGAGEMENTS,
        '{"meta": ' + _deep_array(998, "\x00") + ', "data": {}}',
        {},
    ),
    ("past orjson's limit", "POST", ENVELOPES, _deep_array(1100, "x"), {}),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [case[1:] for case in DEEP_BODIES],
    ids=[case[0] for case in DEEP_BODIES],
)
def test_deeply_nested_body_is_refused_before_any_walk(
    app: Flask, api: ApiClient, method: str, path: str, body: str, headers: dict[str, str]
) -> None:
    with unchanged(app):
        reply = api.request(method, path, raw=body, headers=headers)
    error = assert_error(reply, 400)
    assert error["title"] == "Invalid document"


def test_deeply_nested_patch_is_refused(app: Flask, api: ApiClient, seed: SeedCampaign) -> None:
    envelope_id = seed.envelope_ids[0]
    body = (
        f'{{"data": {{"type": "envelopes", "id": "{envelope_id}",'
        f' "attributes": {{"meta": {{"acct": {_deep_array(990, chr(0))}}}}}}}}}'
    )
    with unchanged(app):
        reply = api.patch(f"{ENVELOPES}/{envelope_id}", raw=body)
    assert_error(reply, 400, pointer="/data/attributes/meta/acct" + "/0" * 28)


# --- moments at the ends of the calendar ---

EDGE_MOMENTS = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
]


@pytest.mark.parametrize("moment", EDGE_MOMENTS)
def test_delivery_time_at_the_ends_of_the_calendar_is_refused_on_create(
    app: Flask, api: ApiClient, moment: str
) -> None:
    body = resource(
        "engagements", {"name": "Edge", "delivery-type": "scheduled", "delivery-time": moment}
    )
    with unchanged(app):
        reply = api.post(ENGAGEMENTS, body)
    assert_error(reply, 400, pointer="/data/attributes/delivery-time")


@pytest.mark.parametrize("moment", EDGE_MOMENTS)
def test_delivery_time_at_the_ends_of_the_calendar_is_refused_on_patch(
    app: Flask, api: ApiClient, seed: SeedCampaign, moment: str
) -> None:
    body = resource("engagements", {"delivery-time": moment}, id_=seed.engagement_id)
    with unchanged(app):
        reply = api.patch(f"{ENGAGEMENTS}/{seed.engagement_id}", body)
    assert_error(reply, 400, pointer="/data/attributes/delivery-time")


def test_delivery_time_a_day_inside_the_calendar_is_accepted(api: ApiClient) -> None:
    body = resource("engagements", {"name": "Far", "delivery-time": "9999-12-30T00:00:00+01:00"})
    reply = api.post(ENGAGEMENTS, body)
    assert reply.status == 201, reply.document
    assert reply.data["attributes"]["delivery-time"] == "9999-12-29T23:00:00.000000Z"


def _cursor(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_CURSORS = [
    _cursor(["0001-01-01T00:00:00+01:00", "yrbCdxqV2ZMdQBCszhA7TZ"]),
    _cursor(["9999-12-31T23:59:59-01:00", "yrbCdxqV2ZMdQBCszhA7TZ"]),
    _cursor({"a": 1, "b": 2}),
    _cursor([1, 2]),
    _cursor(["2026-01-01T00:00:00+00:00"]),
    _cursor(b"[" * 2000),
    _cursor(b"\xff\xfe"),
    "not*base64",
    "\u00e9t\u00e9",
]


@pytest.mark.parametrize("parameter", ["page[after]", "page[before]"])
@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_forged_cursor_is_a_400_naming_its_parameter(
    api: ApiClient, seed: SeedCampaign, parameter: str, cursor: str
) -> None:
    for collection in (ENVELOPES, ENGAGEMENTS):
        reply = (
            api.get(collection, headers=None)
            if False
            else api.client.get(collection, query_string={parameter: cursor}, headers=api.headers())
        )
        assert reply.status_code == 400, reply.data
        errors = orjson.loads(reply.data)["errors"]
        assert [error["source"] for error in errors] == [{"parameter": parameter}]


# --- credentials ---

NON_ASCII_CREDENTIALS = [
    "Basic \u00e9\u00e9\u00e9\u00e9",
    "Basic dG9r\u00ff",
    "Basic " + base64.b64encode("t\u00f6k\u00e9n:s\u00e9cret".encode()).decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode(),
    "Token t\u00f6k\u00e9n:s\u00e9cret",
    "Token " + "\u00ff" * 22 + ":x",
]


@pytest.mark.parametrize("authorization", NON_ASCII_CREDENTIALS)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_non_ascii_credentials_are_unauthorized_with_a_challenge(
    app: Flask, api: ApiClient, authorization: str, method: str
) -> None:
    with unchanged(app):
        reply = api.request(
            method,
            ENGAGEMENTS,
            resource("engagements", {"name": "x"}) if method == "POST" else None,
            headers={"Authorization": authorization},
        )
    assert_error(reply, 401, header="Authorization")
    assert reply.headers["WWW-Authenticate"].startswith("Basic ")


def test_non_ascii_account_key_with_a_valid_token_is_forbidden(api: ApiClient) -> None:
    reply = api.get(ENGAGEMENTS, headers={"X-Account-Key": "f\u00efrstbank"})
    assert_error(reply, 403, header="X-Account-Key")
