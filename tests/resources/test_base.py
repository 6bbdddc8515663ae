"""What every resource shares (campaign/resources/base.py): a write's query string is checked
before anything is written (only `include` on POST and PATCH, nothing on DELETE), and a URL id
that no row of the account has, one holding NUL among them, is a 404."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.assertions import assert_error, unchanged
from tests.client import ApiClient
from tests.world import OTHER_ID, TYPES, World, patch_object

# --- a write's query string ---


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


# --- the row a URL names ---


@pytest.mark.parametrize("type_", TYPES)
def test_update_of_an_unknown_id_is_404(
    app: Flask, world: World, api: ApiClient, type_: str
) -> None:
    body = {"data": {"type": type_, "id": OTHER_ID, "attributes": {}}}
    with unchanged(app):
        reply = api.patch(f"/api/v1/{type_}/{OTHER_ID}", body)
    assert_error(reply, 404)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_nul_in_a_url_id_is_404(app: Flask, world: World, api: ApiClient, method: str) -> None:
    body = {"data": {"type": "text-templates", "id": "abc", "attributes": {}}}
    with unchanged(app):
        reply = api.request(
            method, "/api/v1/text-templates/abc%00", body if method == "PATCH" else None
        )
    assert_error(reply, 404, detail="no text-templates with id")
