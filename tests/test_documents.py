"""Reading request documents (campaign/documents.py) through every write endpoint: a malformed
document, an unknown or read-only member, a wrong `type` or `id`, and attribute errors are each
answered with the JSON:API error they deserve, at their pointer, and change nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

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


# --- attribute errors: marshmallow's detail, every one at once ---


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
# An engagement's entry activity is chosen on PATCH (tests/resources/test_engagements.py).
WRITABLE_ON_UPDATE = {("engagements", "relationships", "activity")}
REFUSED_ON_UPDATE = [m for m in REFUSED_MEMBERS if m[:3] not in WRITABLE_ON_UPDATE]
REFUSED_ON_UPDATE_IDS = [f"{type_}-{name}" for type_, _, name, _ in REFUSED_ON_UPDATE]


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


@pytest.mark.parametrize(
    ("type_", "kind", "name", "value"), REFUSED_ON_UPDATE, ids=REFUSED_ON_UPDATE_IDS
)
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
