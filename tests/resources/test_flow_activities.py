"""`activities` of kinds `web-call` and `split` over the API: created, read, listed, patched and
deleted with their settings shown as stored and defaults filled, the write-only secrets never in
any answer, and each class of bad definition a 400 at its exact pointer that stores nothing.
(The validator's every case: tests/flows/test_definitions.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from campaign.extensions import db
from campaign.models import Activity
from tests.assertions import assert_error, unchanged
from tests.client import ApiClient, Reply, assert_created
from tests.factories import resource, schedule
from tests.world import World

URL = "/api/v1/activities"
PASSWORD = "correct-horse-battery"
CLIENT_SECRET = "oauth-client-secret-42"
FORECAST_URL = "https://api.weather.gov/gridpoints/MFL/109,62/forecast"
WEB_CALL_NAMES = {
    "method",
    "url",
    "headers",
    "basic-auth",
    "oauth2",
    "content-type",
    "body",
    "timeout",
    "response-variables",
}
SPLIT_NAMES = {"variable", "rules"}
SHIPPED_RULES = [
    {"category": "Shipped", "test": "equals", "arguments": ["shipped"]},
    {"category": "Late", "test": "contains-any", "arguments": ["delayed late"]},
]


def web_call(engagement_id: str, **attributes: Any) -> dict[str, Any]:
    return resource(
        "activities",
        {"name": "Weather", "kind": "web-call", "url": FORECAST_URL, **attributes},
        {"engagement": ("engagements", engagement_id)},
    )


def split(engagement_id: str, **attributes: Any) -> dict[str, Any]:
    return resource(
        "activities",
        {"name": "By status", "kind": "split", "variable": "status", "rules": SHIPPED_RULES}
        | attributes,
        {"engagement": ("engagements", engagement_id)},
    )


def patch(api: ApiClient, id_: str, **attributes: Any) -> Reply:
    return api.patch(f"{URL}/{id_}", resource("activities", attributes, id_=id_))


def stored_secrets(app: Flask, activity_id: str) -> dict[str, str]:
    with app.app_context():
        activity = db.session.get(Activity, activity_id)
        assert activity is not None
        return dict(activity.secrets)


def assert_no_secret(reply: Reply) -> None:
    text = json.dumps(reply.document)
    assert PASSWORD not in text and CLIENT_SECRET not in text, text
    assert '"password"' not in text and '"client-secret"' not in text, text


def test_a_web_call_is_shown_with_its_defaults_and_without_relationships_it_has_not(
    world: World, api: ApiClient
) -> None:
    headers = {"User-Agent": "(myweatherapp.com, contact@myweatherapp.com)"}
    variables = [
        {"name": "temp", "query": "properties.periods.0.temperature"},
        {"name": "winds", "query": "windSpeed"},
    ]
    data = assert_created(
        api.post(
            URL,
            web_call(
                world.spare_engagement_id, headers=headers, **{"response-variables": variables}
            ),
        ),
        "activities",
    )
    attributes = data["attributes"]
    assert attributes["kind"] == "web-call"
    assert {name: attributes[name] for name in WEB_CALL_NAMES} == {
        "method": "GET",
        "url": FORECAST_URL,
        "headers": headers,
        "basic-auth": None,
        "oauth2": None,
        "content-type": None,
        "body": None,
        "timeout": 10,
        "response-variables": variables,
    }
    assert {name: attributes[name] for name in SPLIT_NAMES} == {"variable": None, "rules": None}
    assert data["relationships"]["text-template"]["data"] is None
    assert data["relationships"]["phone-number"]["data"] is None
    assert data["relationships"]["engagement"]["data"]["id"] == world.spare_engagement_id
    assert api.get(f"{URL}/{data['id']}").data == data


def test_a_split_is_shown_with_its_rules(world: World, api: ApiClient) -> None:
    data = assert_created(api.post(URL, split(world.spare_engagement_id)), "activities")
    attributes = data["attributes"]
    assert (attributes["kind"], attributes["variable"], attributes["rules"]) == (
        "split",
        "status",
        SHIPPED_RULES,
    )
    assert all(attributes[name] is None for name in WEB_CALL_NAMES)
    listed = api.get(f"{URL}?filter[engagement]={world.spare_engagement_id}").data
    assert listed == [data]


def test_a_text_activity_shows_no_flow_attributes(world: World, api: ApiClient) -> None:
    attributes = api.get(world.detail("activities")).data["attributes"]
    assert all(attributes[name] is None for name in WEB_CALL_NAMES | SPLIT_NAMES)


def test_secrets_are_stored_but_never_in_any_answer(
    app: Flask, world: World, api: ApiClient
) -> None:
    basic = web_call(
        world.spare_engagement_id, **{"basic-auth": {"username": "ada", "password": PASSWORD}}
    )
    created = api.post(URL, basic)
    assert created.status == 201, created.document
    assert created.data["attributes"]["basic-auth"] == {"username": "ada"}
    oauth = web_call(
        world.spare_engagement_id,
        oauth2={
            "token-url": "https://auth.example.com/token",
            "client-id": "campaign",
            "client-secret": CLIENT_SECRET,
            "scope": "orders:read",
        },
    )
    second = api.post(URL, oauth)
    assert second.status == 201, second.document
    assert second.data["attributes"]["oauth2"] == {
        "token-url": "https://auth.example.com/token",
        "client-id": "campaign",
        "scope": "orders:read",
    }
    renamed = patch(api, second.data["id"], name="Orders")
    replies = [
        created,
        second,
        renamed,
        api.get(f"{URL}/{created.data['id']}"),
        api.get(f"{URL}?filter[engagement]={world.spare_engagement_id}"),
        api.get(f"/api/v1/engagements/{world.spare_engagement_id}?include=activity,activities"),
    ]
    for reply in replies:
        assert reply.status == 200 or reply.status == 201
        assert_no_secret(reply)
    assert stored_secrets(app, created.data["id"]) == {"basic-auth-password": PASSWORD}
    assert stored_secrets(app, second.data["id"]) == {"oauth2-client-secret": CLIENT_SECRET}


def test_patch_merges_over_the_settings_and_keeps_the_stored_password(
    app: Flask, world: World, api: ApiClient
) -> None:
    created = api.post(
        URL,
        web_call(
            world.spare_engagement_id, **{"basic-auth": {"username": "ada", "password": PASSWORD}}
        ),
    ).data
    # The activity as read back (no password) PATCHed with one change keeps the password.
    reply = patch(
        api, created["id"], timeout=30, method="post", **{"basic-auth": {"username": "ada"}}
    )
    assert reply.status == 200, reply.document
    attributes = reply.data["attributes"]
    assert (attributes["timeout"], attributes["method"], attributes["url"]) == (
        30,
        "POST",
        FORECAST_URL,
    )
    assert attributes["basic-auth"] == {"username": "ada"}
    assert stored_secrets(app, created["id"]) == {"basic-auth-password": PASSWORD}
    removed = patch(api, created["id"], **{"basic-auth": None})
    assert removed.data["attributes"]["basic-auth"] is None
    assert stored_secrets(app, created["id"]) == {}


def test_patch_to_another_kind_replaces_the_settings_and_drops_the_secrets(
    app: Flask, world: World, api: ApiClient
) -> None:
    created = api.post(
        URL,
        web_call(
            world.spare_engagement_id, **{"basic-auth": {"username": "ada", "password": PASSWORD}}
        ),
    ).data
    reply = patch(api, created["id"], kind="split", variable="status", rules=SHIPPED_RULES)
    assert reply.status == 200, reply.document
    attributes = reply.data["attributes"]
    assert (attributes["kind"], attributes["variable"], attributes["rules"]) == (
        "split",
        "status",
        SHIPPED_RULES,
    )
    assert all(attributes[name] is None for name in WEB_CALL_NAMES)
    assert stored_secrets(app, created["id"]) == {}


def test_delete_a_web_call_answers_204_then_404(world: World, api: ApiClient) -> None:
    created = api.post(URL, web_call(world.spare_engagement_id)).data
    assert api.delete(f"{URL}/{created['id']}").status == 204
    assert api.get(f"{URL}/{created['id']}").status == 404


# (attributes laid over a valid web call or split, the pointer of the 400)
BAD_DEFINITIONS = [
    pytest.param(
        "split",
        {"rules": [{"category": "Shipped", "test": "is-shipped", "arguments": []}]},
        "/data/attributes/rules/0/test",
        id="unknown-test",
    ),
    pytest.param(
        "split",
        {"rules": [{"category": "Low", "test": "number-lt", "arguments": ["cold"]}]},
        "/data/attributes/rules/0/arguments",
        id="number-test-with-words",
    ),
    pytest.param("split", {"variable": "1st"}, "/data/attributes/variable", id="bad-variable"),
    pytest.param("web-call", {"timeout": 0}, "/data/attributes/timeout", id="timeout-0"),
    pytest.param("web-call", {"timeout": 201}, "/data/attributes/timeout", id="timeout-201"),
    pytest.param(
        "web-call",
        {"response-variables": [{"query": "temperature"}]},
        "/data/attributes/response-variables/0/name",
        id="response-variable-without-name",
    ),
    pytest.param(
        "web-call",
        {"response-variables": [{"name": "temp", "query": "properties..temperature"}]},
        "/data/attributes/response-variables/0/query",
        id="query-with-an-empty-step",
    ),
    pytest.param(
        "web-call",
        {"headers": {"Bad Header": "x"}},
        "/data/attributes/headers/Bad Header",
        id="bad-header-name",
    ),
    pytest.param("web-call", {"url": "ftp://example.com/x"}, "/data/attributes/url", id="not-http"),
    pytest.param("web-call", {"method": "TRACE"}, "/data/attributes/method", id="method"),
    pytest.param(
        "web-call",
        {"basic-auth": {"username": "ada"}},
        "/data/attributes/basic-auth/password",
        id="basic-auth-without-password",
    ),
    pytest.param("web-call", {"variable": "status"}, "/data/attributes/variable", id="foreign"),
]


@pytest.mark.parametrize(("kind", "attributes", "pointer"), BAD_DEFINITIONS)
def test_a_bad_definition_is_400_at_its_member_on_create(
    app: Flask, world: World, api: ApiClient, kind: str, attributes: dict[str, Any], pointer: str
) -> None:
    build = web_call if kind == "web-call" else split
    with unchanged(app):
        reply = api.post(URL, build(world.spare_engagement_id, **attributes))
    assert_error(reply, 400, pointer=pointer)


@pytest.mark.parametrize(("kind", "attributes", "pointer"), BAD_DEFINITIONS)
def test_a_bad_definition_is_400_at_its_member_on_update(
    app: Flask, world: World, api: ApiClient, kind: str, attributes: dict[str, Any], pointer: str
) -> None:
    build = web_call if kind == "web-call" else split
    created = api.post(URL, build(world.spare_engagement_id))
    assert created.status == 201, created.document
    with unchanged(app):
        reply = patch(api, created.data["id"], **attributes)
    assert_error(reply, 400, pointer=pointer)


def test_a_web_call_without_url_is_400_at_url(app: Flask, world: World, api: ApiClient) -> None:
    body = web_call(world.spare_engagement_id)
    del body["data"]["attributes"]["url"]
    with unchanged(app):
        reply = api.post(URL, body)
    assert_error(reply, 400, pointer="/data/attributes/url", detail="required")


def test_a_web_call_with_a_template_or_sender_is_400_at_it(
    app: Flask, world: World, api: ApiClient
) -> None:
    body = web_call(world.spare_engagement_id)
    body["data"]["relationships"]["text-template"] = {
        "data": {"type": "text-templates", "id": world.seed.template_id}
    }
    with unchanged(app):
        reply = api.post(URL, body)
    assert_error(reply, 400, pointer="/data/relationships/text-template/data")


def test_a_text_with_web_call_attributes_is_400_at_them(
    app: Flask, world: World, api: ApiClient
) -> None:
    body = {"data": {**world.valid("activities")}}
    body["data"]["attributes"] = {**body["data"]["attributes"], "url": FORECAST_URL}
    with unchanged(app):
        reply = api.post(URL, body)
    assert_error(reply, 400, pointer="/data/attributes/url", detail="web-call")


def test_changing_a_web_call_after_scheduling_is_409_and_changes_nothing(
    app: Flask, world: World, api: ApiClient
) -> None:
    created = api.post(URL, web_call(world.seed.engagement_id))
    assert created.status == 201, created.document
    assert schedule(api, world.seed.engagement_id).status == 202
    with unchanged(app):
        reply = patch(api, created.data["id"], timeout=20)
    assert_error(reply, 409, pointer="/data/attributes/timeout", detail="pending")
    with unchanged(app):
        added = api.post(URL, split(world.seed.engagement_id))
    assert_error(added, 409, pointer="/data/relationships/engagement/data")


@pytest.mark.parametrize(
    ("build", "relationship", "linked"),
    [
        (web_call, "text-template", ("text-templates", "template")),
        (split, "phone-number", ("phone-numbers", "phone")),
    ],
    ids=["template-on-web-call", "sender-on-split"],
)
def test_a_template_or_sender_patched_onto_a_web_call_or_split_is_400_at_it(
    app: Flask,
    world: World,
    api: ApiClient,
    build: Any,
    relationship: str,
    linked: tuple[str, str],
) -> None:
    created = api.post(URL, build(world.spare_engagement_id)).data
    linked_type, which = linked
    linked_id = {
        "template": world.seed.template_id,
        "phone": world.seed.phone_number_id,
    }[which]
    body = resource("activities", None, {relationship: (linked_type, linked_id)}, id_=created["id"])
    with unchanged(app):
        reply = api.patch(f"{URL}/{created['id']}", body)
    assert_error(reply, 400, pointer=f"/data/relationships/{relationship}/data")
