"""Bad input to every write endpoint and list query: each is answered with the JSON:API error it
deserves (status, title, detail, pointer or parameter), never a 500, and leaves the database and
Redis exactly as they were."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from campaign.models import EngagementStatus, EnvelopeStatus, TextStatus
from tests.assertions import assert_error, unchanged
from tests.client import ApiClient, Reply
from tests.world import OTHER_ID, TYPES, World, patch_object, with_attributes


def test_valid_documents_used_below_are_created(world: World, api: ApiClient) -> None:
    # The bad documents below differ from these in one place: that place is what is refused.
    for type_ in TYPES:
        reply = api.post(world.collection(type_), {"data": world.valid(type_)})
        assert reply.status == 201, (type_, reply.document)
        assert reply.headers["Location"] == f"/api/v1/{type_}/{reply.data['id']}"


# --- malformed documents ---

Builder = Callable[[str, str | None], Any]


def _object(type_: str, id_: str | None, **members: Any) -> dict[str, Any]:
    return {"type": type_, **({"id": id_} if id_ else {}), **members}


# (label, body builder taking type and id (None on POST), pointer of the error)
MALFORMED: list[tuple[str, Builder, str]] = [
    ("array", lambda t, i: "[1, 2]", ""),
    ("null", lambda t, i: "null", ""),
    ("string", lambda t, i: '"data"', ""),
    ("empty object", lambda t, i: "{}", ""),
    ("data null", lambda t, i: '{"data": null}', "/data"),
    ("data empty array", lambda t, i: '{"data": []}', "/data"),
    ("data array without ext=bulk", lambda t, i: {"data": [_object(t, i)]}, "/data"),
    ("data string", lambda t, i: '{"data": "x"}', "/data"),
    ("attributes null", lambda t, i: {"data": _object(t, i, attributes=None)}, "/data/attributes"),
    ("attributes array", lambda t, i: {"data": _object(t, i, attributes=[])}, "/data/attributes"),
    (
        "relationships 5",
        lambda t, i: {"data": _object(t, i, relationships=5)},
        "/data/relationships",
    ),
    ("type a number", lambda t, i: {"data": {**_object(t, i), "type": 5}}, "/data/type"),
    (
        "type missing",
        lambda t, i: {"data": {"id": i, "attributes": {}} if i else {"attributes": {}}},
        "/data/type",
    ),
    ("unknown top-level member", lambda t, i: {"data": _object(t, i), "extra": 1}, "/extra"),
    ("unknown resource member", lambda t, i: {"data": _object(t, i, colour="red")}, "/data/colour"),
    ("truncated JSON", lambda t, i: '{"data": {"type": "' + t, ""),
    ("empty body", lambda t, i: "", ""),
    ("blank body", lambda t, i: " \n ", ""),
    ("invalid UTF-8", lambda t, i: b'{"data": "\xff\xfe"}', ""),
    ("lone surrogate", lambda t, i: '{"data": {"type": "\\ud800"}}', ""),
    ("NaN", lambda t, i: '{"data": NaN}', ""),
    ("nested too deep", lambda t, i: "[" * 5000 + "]" * 5000, ""),
    (
        "NUL in a string",
        lambda t, i: {"data": _object(t, i, attributes={"name": "a\u0000b"})},
        "/data/attributes/name",
    ),
    (
        "NUL in a member name",
        lambda t, i: {"data": _object(t, i, meta={"a\u0000": 1})},
        "/data/meta/a\u0000",
    ),
]


def _send(api: ApiClient, method: str, path: str, body: Any) -> Reply:
    if isinstance(body, str | bytes):
        return api.request(method, path, raw=body)
    return api.request(method, path, body)


@pytest.mark.parametrize("type_", TYPES)
@pytest.mark.parametrize(
    ("label", "build", "pointer"), MALFORMED, ids=[label for label, _, _ in MALFORMED]
)
def test_malformed_create_is_400_with_pointer(
    app: Flask, world: World, api: ApiClient, type_: str, label: str, build: Builder, pointer: str
) -> None:
    with unchanged(app):
        reply = _send(api, "POST", world.collection(type_), build(type_, None))
    assert_error(reply, 400, pointer=pointer)


@pytest.mark.parametrize("type_", TYPES)
@pytest.mark.parametrize(
    ("label", "build", "pointer"), MALFORMED, ids=[label for label, _, _ in MALFORMED]
)
def test_malformed_update_is_400_with_pointer(
    app: Flask, world: World, api: ApiClient, type_: str, label: str, build: Builder, pointer: str
) -> None:
    with unchanged(app):
        reply = _send(api, "PATCH", world.detail(type_), build(type_, world.existing_id(type_)))
    assert_error(reply, 400, pointer=pointer)


def test_malformed_errors_say_what_is_wrong(world: World, api: ApiClient) -> None:
    truncated = api.post("/api/v1/engagements", raw='{"data": {"type": "engag')
    assert_error(truncated, 400, pointer="", detail="not valid JSON")
    empty = api.post("/api/v1/engagements", raw="")
    assert_error(empty, 400, pointer="", detail="empty")
    array = api.post("/api/v1/engagements", {"data": [world.valid("engagements")]})
    assert_error(array, 400, pointer="/data", detail="single resource object")
    bulk_without_ext = api.post("/api/v1/envelopes", {"data": [world.valid("envelopes")]})
    assert_error(bulk_without_ext, 400, pointer="/data", detail="ext=bulk")


# --- attributes of the wrong type or value ---


def test_wrong_value_errors_name_the_problem(world: World, api: ApiClient) -> None:
    throughput = api.post(
        "/api/v1/phone-numbers",
        {"data": with_attributes(world.valid("phone-numbers"), {"throughput": "fast"})},
    )
    assert_error(throughput, 400, pointer="/data/attributes/throughput", detail="integer")
    when = api.post(
        "/api/v1/engagements",
        {"data": with_attributes(world.valid("engagements"), {"delivery-time": "yesterday"})},
    )
    assert_error(when, 400, pointer="/data/attributes/delivery-time", detail="datetime")


def test_every_wrong_attribute_is_reported_at_once(
    app: Flask, world: World, api: ApiClient
) -> None:
    body = {
        "data": with_attributes(world.valid("phone-numbers"), {"name": 5, "throughput": "fast"})
    }
    with unchanged(app):
        reply = api.post("/api/v1/phone-numbers", body)
    assert reply.status == 400
    assert set(reply.pointers()) == {"/data/attributes/name", "/data/attributes/throughput"}


# --- unknown and read-only members are refused, not stored or ignored ---

# (type, member kind, name, value)
REFUSED_MEMBERS: list[tuple[str, str, str, Any]] = [
    ("text-templates", "attributes", "variables", ["first-name"]),
    ("text-templates", "attributes", "created-at", "2020-01-01T00:00:00.000000Z"),
    ("engagements", "attributes", "count-total", 10),
    ("engagements", "attributes", "count-hold", 0),
    ("engagements", "attributes", "updated-at", "2020-01-01T00:00:00.000000Z"),
    ("envelopes", "attributes", "status", "completed"),
    ("envelopes", "attributes", "retry-attempts", 0),
    ("envelopes", "attributes", "completed-at", None),
    ("activities", "attributes", "status", "scheduled"),
    ("phone-numbers", "attributes", "created-at", "2020-01-01T00:00:00.000000Z"),
    *[(type_, "attributes", "colour", "red") for type_ in TYPES],
    *[(type_, "attributes", "id", OTHER_ID) for type_ in TYPES],
    ("engagements", "relationships", "activity", ("activities", "activity")),
    ("engagements", "relationships", "phone-numbers", ("phone-numbers", "phone")),
    ("envelopes", "relationships", "activity", ("activities", "activity")),
    *[(type_, "relationships", "owner", ("engagements", "engagement")) for type_ in TYPES],
]
REFUSED_IDS = [f"{type_}-{name}" for type_, _, name, _ in REFUSED_MEMBERS]


def _member(world: World, kind: str, name: str, value: Any) -> dict[str, Any]:
    if kind == "attributes":
        return {name: value}
    linked_type, which = value
    linked_id = {
        "activity": world.seed.activity_id,
        "phone": world.seed.phone_number_id,
        "engagement": world.seed.engagement_id,
    }[which]
    return {name: {"data": {"type": linked_type, "id": linked_id}}}


@pytest.mark.parametrize(("type_", "kind", "name", "value"), REFUSED_MEMBERS, ids=REFUSED_IDS)
def test_unknown_or_read_only_member_on_create_is_400_at_it(
    app: Flask, world: World, api: ApiClient, type_: str, kind: str, name: str, value: Any
) -> None:
    base = world.valid(type_)
    body = {"data": {**base, kind: {**base.get(kind, {}), **_member(world, kind, name, value)}}}
    with unchanged(app):
        reply = api.post(world.collection(type_), body)
    assert_error(reply, 400, pointer=f"/data/{kind}/{name}", detail=repr(name))


@pytest.mark.parametrize(("type_", "kind", "name", "value"), REFUSED_MEMBERS, ids=REFUSED_IDS)
def test_unknown_or_read_only_member_on_update_is_400_at_it(
    app: Flask, world: World, api: ApiClient, type_: str, kind: str, name: str, value: Any
) -> None:
    # A legitimate change rides along: it must not be applied either.
    legitimate = {
        "phone-numbers": {"name": "changed"},
        "text-templates": {"name": "changed"},
        "engagements": {"name": "changed"},
        "activities": {"name": "changed"},
        "envelopes": {"meta": {"first-name": "changed"}},
    }[type_]
    members: dict[str, Any] = {"attributes": legitimate}
    if kind == "attributes":
        members["attributes"] = {**legitimate, name: value}
    else:
        members["relationships"] = _member(world, kind, name, value)
    with unchanged(app):
        reply = api.patch(world.detail(type_), {"data": patch_object(world, type_, **members)})
    assert_error(reply, 400, pointer=f"/data/{kind}/{name}", detail=repr(name))


@pytest.mark.parametrize("type_", ["engagements", "envelopes"])
def test_pointers_escape_slash_and_tilde_in_member_names(
    app: Flask, world: World, api: ApiClient, type_: str
) -> None:
    body = {"data": with_attributes(world.valid(type_), {"a/b": 1, "c~d": 2})}
    with unchanged(app):
        reply = api.post(world.collection(type_), body)
    assert reply.status == 400
    assert set(reply.pointers()) == {"/data/attributes/a~1b", "/data/attributes/c~0d"}


# --- identity: type, id ---


@pytest.mark.parametrize("type_", TYPES)
@pytest.mark.parametrize("wrong", ["widgets", "texts", "engagement"])
def test_wrong_type_on_create_is_409(
    app: Flask, world: World, api: ApiClient, type_: str, wrong: str
) -> None:
    with unchanged(app):
        reply = api.post(world.collection(type_), {"data": {**world.valid(type_), "type": wrong}})
    assert_error(reply, 409, pointer="/data/type", detail=repr(wrong))


@pytest.mark.parametrize("type_", TYPES)
def test_wrong_type_on_update_is_409(app: Flask, world: World, api: ApiClient, type_: str) -> None:
    body = {
        "data": {
            "type": "widgets",
            "id": world.existing_id(type_),
            "attributes": {"name": "changed"},
        }
    }
    with unchanged(app):
        reply = api.patch(world.detail(type_), body)
    assert_error(reply, 409, pointer="/data/type", detail="'widgets'")


@pytest.mark.parametrize("type_", TYPES)
def test_id_differing_from_url_on_update_is_409(
    app: Flask, world: World, api: ApiClient, type_: str
) -> None:
    # The id of another row of the same type, so only the mismatch is wrong.
    other = world.seed.envelope_ids[1] if type_ == "envelopes" else OTHER_ID
    body = {"data": {"type": type_, "id": other, "attributes": {}}}
    with unchanged(app):
        reply = api.patch(world.detail(type_), body)
    assert_error(reply, 409, pointer="/data/id", detail="does not match")


@pytest.mark.parametrize("type_", TYPES)
@pytest.mark.parametrize("id_", [None, 5], ids=["missing", "a number"])
def test_update_without_a_string_id_is_400(
    app: Flask, world: World, api: ApiClient, type_: str, id_: Any
) -> None:
    body: dict[str, Any] = {"type": type_, "attributes": {}}
    if id_ is not None:
        body["id"] = id_
    with unchanged(app):
        reply = api.patch(world.detail(type_), {"data": body})
    assert_error(reply, 400, pointer="/data/id")


@pytest.mark.parametrize("type_", TYPES)
def test_client_generated_id_on_create_is_403(
    app: Flask, world: World, api: ApiClient, type_: str
) -> None:
    with unchanged(app):
        reply = api.post(world.collection(type_), {"data": {**world.valid(type_), "id": OTHER_ID}})
    assert_error(reply, 403, pointer="/data/id", detail="client-generated")


@pytest.mark.parametrize("type_", TYPES)
def test_update_of_an_unknown_id_is_404(
    app: Flask, world: World, api: ApiClient, type_: str
) -> None:
    body = {"data": {"type": type_, "id": OTHER_ID, "attributes": {}}}
    with unchanged(app):
        reply = api.patch(f"/api/v1/{type_}/{OTHER_ID}", body)
    assert_error(reply, 404)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_nul_in_url_id_is_404_not_500(
    app: Flask, world: World, api: ApiClient, method: str
) -> None:
    body = {"data": {"type": "text-templates", "id": "abc", "attributes": {}}}
    with unchanged(app):
        reply = api.request(
            method, "/api/v1/text-templates/abc%00", body if method == "PATCH" else None
        )
    assert reply.status in (400, 404), reply.document


# --- query parameters ---

# (path, query string, parameter named by the error)
BAD_QUERIES: list[Any] = [
    ("/api/v1/engagements", "foo=1", "foo"),
    ("/api/v1/engagements", "filter[nope]=x", "filter[nope]"),
    ("/api/v1/envelopes", "filter[meta]=x", "filter[meta]"),
    ("/api/v1/envelopes", "filter[status]=", "filter[status]"),
    ("/api/v1/engagements", "filter[status]=bogus", "filter[status]"),
    ("/api/v1/envelopes", "filter[status]=Pending", "filter[status]"),
    ("/api/v1/texts", "filter[status]=delivered ", "filter[status]"),
    ("/api/v1/texts", "filter=x", "filter"),
    ("/api/v1/engagements", "sort=name", "sort"),
    ("/api/v1/engagements", "sort=created-at,updated-at", "sort"),
    ("/api/v1/engagements", "sort=--created-at", "sort"),
    ("/api/v1/engagements", "page[size]=100000", "page[size]"),
    ("/api/v1/engagements", "page[size]=0", "page[size]"),
    ("/api/v1/engagements", "page[size]=-1", "page[size]"),
    ("/api/v1/engagements", "page[size]=ten", "page[size]"),
    ("/api/v1/engagements", "page[number]=2", "page[number]"),
    ("/api/v1/engagements", "page[offset]=10", "page[offset]"),
    ("/api/v1/engagements", "include=nope", "include"),
    ("/api/v1/engagements", "include=activity,nope", "include"),
    ("/api/v1/envelopes", "include=engagement.activity", "include"),
    ("/api/v1/engagements", "fields[engagements]=name", "fields[engagements]"),
    ("/api/v1/engagements", "page[after]=garbage", "page[after]"),
    ("/api/v1/engagements", "page[before]=garbage", "page[before]"),
    ("/api/v1/engagements", "page[after]=%00", "page[after]"),
    # base64 of `[1]`, `5`, `["2024-01-01T00:00:00", "x"]` (no time zone), `["now", "x"]`
    ("/api/v1/engagements", "page[after]=WzFd", "page[after]"),
    ("/api/v1/engagements", "page[after]=NQ", "page[after]"),
    ("/api/v1/engagements", "page[after]=WyIyMDI0LTAxLTAxVDAwOjAwOjAwIiwgIngiXQ", "page[after]"),
    ("/api/v1/engagements", "page[after]=WyJub3ciLCAieCJd", "page[after]"),
    ("/api/v1/engagements/{engagement}", "foo=1", "foo"),
    ("/api/v1/engagements/{engagement}", "include=nope", "include"),
    ("/api/v1/engagements/{engagement}", "page[size]=5", "page[size]"),
]


def _query_id(case: Any) -> str:
    path, query, _ = case.values if hasattr(case, "values") else case
    return f"{path.removeprefix('/api/v1/').replace('{engagement}', 'ID')}?{query}"


@pytest.mark.parametrize(
    ("path", "query", "parameter"), BAD_QUERIES, ids=[_query_id(case) for case in BAD_QUERIES]
)
def test_unsupported_query_parameter_is_400_naming_it(
    world: World, api: ApiClient, path: str, query: str, parameter: str
) -> None:
    url = path.format(engagement=world.seed.engagement_id) + "?" + query
    assert_error(api.get(url), 400, parameter=parameter)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/engagements", EngagementStatus),
        ("/api/v1/envelopes", EnvelopeStatus),
        ("/api/v1/texts", TextStatus),
    ],
)
def test_an_unknown_status_filter_is_400_naming_the_allowed_values(
    world: World, api: ApiClient, path: str, allowed: Any
) -> None:
    error = assert_error(api.get(f"{path}?filter[status]=bogus"), 400, parameter="filter[status]")

    assert error["detail"] == "filter[status] must be one of: " + ", ".join(
        status.value for status in allowed
    )


def test_both_page_after_and_before_is_400(world: World, api: ApiClient) -> None:
    first = api.get("/api/v1/envelopes?page[size]=1")
    cursor = parse_qs(urlsplit(first.document["links"]["next"]).query)["page[after]"][0]
    reply = api.get(f"/api/v1/envelopes?page[after]={cursor}&page[before]={cursor}")
    assert_error(reply, 400, parameter="page[before]")


@pytest.mark.parametrize("type_", TYPES)
def test_unsupported_query_parameter_on_create_is_400_and_creates_nothing(
    app: Flask, world: World, api: ApiClient, type_: str
) -> None:
    with unchanged(app):
        reply = api.post(world.collection(type_) + "?foo=1", {"data": world.valid(type_)})
    assert_error(reply, 400, parameter="foo")


@pytest.mark.parametrize("type_", TYPES)
def test_unsupported_query_parameter_on_update_is_400_and_changes_nothing(
    app: Flask, world: World, api: ApiClient, type_: str
) -> None:
    body = {"data": patch_object(world, type_, attributes={})}
    with unchanged(app):
        reply = api.patch(world.detail(type_) + "?sort=created-at", body)
    assert_error(reply, 400, parameter="sort")


def test_unknown_include_on_update_is_400_and_changes_nothing(
    app: Flask, world: World, api: ApiClient
) -> None:
    body = {"data": patch_object(world, "engagements", attributes={"name": "changed"})}
    with unchanged(app):
        reply = api.patch(world.detail("engagements") + "?include=nope", body)
    assert_error(reply, 400, parameter="include")


def test_unknown_include_on_create_is_400_and_creates_nothing(
    app: Flask, world: World, api: ApiClient
) -> None:
    with unchanged(app):
        reply = api.post("/api/v1/engagements?include=nope", {"data": world.valid("engagements")})
    assert_error(reply, 400, parameter="include")


def test_unsupported_query_parameter_on_delete_is_400_and_deletes_nothing(
    app: Flask, world: World, api: ApiClient
) -> None:
    with unchanged(app):
        reply = api.delete(world.detail("envelopes") + "?foo=1")
    assert_error(reply, 400, parameter="foo")


def test_nul_in_filter_value_is_not_a_500(world: World, api: ApiClient) -> None:
    reply = api.get("/api/v1/envelopes?filter[engagement]=a%00")
    assert reply.status in (200, 400), reply.document
    if reply.status == 200:
        assert reply.data == []
