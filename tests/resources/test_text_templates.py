"""`text-templates` CRUD: the read-only `variables` are computed from the body on create and
recomputed whenever the body changes, and an invalid body, a missing or wrong attribute are
refused at their pointer with nothing stored."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from flask import Flask

from tests.assertions import assert_error, unchanged
from tests.client import ApiClient, Reply, assert_created
from tests.factories import SEED_BODY, build_seed_campaign, make_phone_number, resource, schedule
from tests.servers import serve
from tests.world import World, patch_object, with_attributes, wrong_value, wrong_value_tests

URL = "/api/v1/text-templates"


def create(
    api: ApiClient, name: str = "Weekly Specials", body: str = "Hello {{first-name}}!"
) -> dict[str, Any]:
    return assert_created(
        api.post(URL, resource("text-templates", {"name": name, "body": body})), "text-templates"
    )


def patch(api: ApiClient, id_: str, **attributes: Any) -> Reply:
    return api.patch(f"{URL}/{id_}", resource("text-templates", attributes, id_=id_))


def test_create_computes_variables_in_order_of_use(api: ApiClient) -> None:
    data = create(api, body="Hi {{first-name}} {{last-name}}, {{first-name}} again")
    assert data["attributes"]["variables"] == ["first-name", "last-name"]
    assert data["attributes"]["name"] == "Weekly Specials"
    assert api.get(f"{URL}/{data['id']}").data == data


def test_body_without_variables_has_an_empty_list(api: ApiClient) -> None:
    assert create(api, body="No variables here.")["attributes"]["variables"] == []


def test_patch_body_recomputes_variables(api: ApiClient) -> None:
    created = create(api)
    reply = patch(api, created["id"], body="Your code is {{code}}, {{last-name}}")
    assert reply.status == 200
    attributes = reply.data["attributes"]
    assert attributes["variables"] == ["code", "last-name"]
    assert attributes["body"] == "Your code is {{code}}, {{last-name}}"
    assert attributes["name"] == created["attributes"]["name"]
    assert attributes["created-at"] == created["attributes"]["created-at"]
    assert attributes["updated-at"] > attributes["created-at"]
    assert api.get(f"{URL}/{created['id']}").data["attributes"] == attributes


def test_patch_name_changes_only_the_name(api: ApiClient) -> None:
    created = create(api)
    reply = patch(api, created["id"], name="Monthly Specials")
    assert reply.status == 200
    attributes = reply.data["attributes"]
    assert attributes["name"] == "Monthly Specials"
    assert attributes["body"] == created["attributes"]["body"]
    assert attributes["variables"] == ["first-name"]


def test_delete_answers_204_then_404(api: ApiClient) -> None:
    created = create(api)
    deleted = api.delete(f"{URL}/{created['id']}")
    assert deleted.status == 204
    assert deleted.document is None
    assert api.get(f"{URL}/{created['id']}").status == 404
    assert api.delete(f"{URL}/{created['id']}").status == 404


def test_body_is_frozen_while_a_scheduled_engagement_sends_it(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    seed = build_seed_campaign(api, phone_id)
    assert schedule(api, seed.engagement_id).status == 202
    before = api.get(f"{URL}/{seed.template_id}").data

    refused = patch(api, seed.template_id, body="Changed {{code}}")
    assert refused.status == 409
    assert refused.pointers() == ["/data/attributes/body"]
    assert api.delete(f"{URL}/{seed.template_id}").status == 409
    assert api.get(f"{URL}/{seed.template_id}").data == before
    # The name is only a label: it may still change.
    assert patch(api, seed.template_id, name="Renamed").status == 200


def test_scheduling_and_a_body_change_racing_never_both_succeed(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    outcomes = set()
    with serve(app) as base_url, ThreadPoolExecutor(2) as pool:
        for _ in range(10):
            seed = build_seed_campaign(api, phone_id)
            # The envelopes have first-name but no code: the new body would fail every text.
            changes = {
                "template": (
                    f"{URL}/{seed.template_id}",
                    resource("text-templates", {"body": "Your {{code}}"}, id_=seed.template_id),
                ),
                "schedule": (
                    f"/api/v1/engagements/{seed.engagement_id}",
                    resource("engagements", {"status": "scheduled"}, id_=seed.engagement_id),
                ),
            }
            start = threading.Barrier(len(changes))

            def send(path: str, document: dict[str, Any], start: threading.Barrier = start) -> int:
                start.wait(timeout=10)
                reply = httpx.patch(
                    f"{base_url}{path}",
                    content=json.dumps(document),
                    headers=api.headers(),
                    timeout=30,
                )
                return reply.status_code

            futures = {name: pool.submit(send, *request) for name, request in changes.items()}
            statuses = {name: future.result() for name, future in futures.items()}
            assert statuses in (
                {"template": 200, "schedule": 409},
                {"template": 409, "schedule": 202},
            )
            body = api.get(f"{URL}/{seed.template_id}").data["attributes"]["body"]
            engagement = api.get(f"/api/v1/engagements/{seed.engagement_id}").data["attributes"]
            if statuses["schedule"] == 202:
                assert (body, engagement["status"]) == (SEED_BODY, "scheduled")
            else:
                assert (body, engagement["status"]) == ("Your {{code}}", "pending")
            outcomes.add(statuses["schedule"])
    assert outcomes  # ten races ran; either order may win each


def test_read_only_variables_are_computed_from_the_body_not_taken(
    world: World, api: ApiClient
) -> None:
    reply = api.post(
        "/api/v1/text-templates",
        {"data": with_attributes(world.valid("text-templates"), {"variables": ["last-name"]})},
    )
    assert_error(reply, 400, pointer="/data/attributes/variables", detail="read-only")
    stored = api.get(world.detail("text-templates"))
    assert stored.data["attributes"]["variables"] == ["first-name"]


def test_missing_required_attributes_are_400_at_each(
    app: Flask, world: World, api: ApiClient
) -> None:
    with unchanged(app):
        reply = api.post(
            "/api/v1/text-templates", {"data": {"type": "text-templates", "attributes": {}}}
        )
    assert reply.status == 400
    assert set(reply.pointers()) == {"/data/attributes/name", "/data/attributes/body"}


WRONG_VALUES = [
    wrong_value({"name": 5}, "/data/attributes/name"),
    wrong_value({"name": ""}, "/data/attributes/name"),
    wrong_value({"name": None}, "/data/attributes/name"),
    wrong_value({"body": 5}, "/data/attributes/body"),
    wrong_value({"body": ["Hi"]}, "/data/attributes/body"),
    wrong_value({"body": ""}, "/data/attributes/body"),
]


test_wrong_value_on_create_is_400, test_wrong_value_on_update_is_400 = wrong_value_tests(
    "text-templates", WRONG_VALUES
)


# --- bodies the sandbox refuses ---

BAD_BODIES = [
    ("syntax error", "Hello {{ first-name", "syntax error"),
    ("unclosed block", "{% if x %}hi", "syntax error"),
    ("dunder attribute", "{{ ''.__class__ }}", "unsafe"),
    ("subclasses walk", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    ("too long", "x" * 1601, "over the limit"),
]


@pytest.mark.parametrize(
    ("label", "body", "detail"), BAD_BODIES, ids=[label for label, _, _ in BAD_BODIES]
)
def test_invalid_template_body_is_400_at_body(
    app: Flask, world: World, api: ApiClient, label: str, body: str, detail: str
) -> None:
    with unchanged(app):
        created = api.post(
            "/api/v1/text-templates",
            {"data": with_attributes(world.valid("text-templates"), {"body": body})},
        )
    assert_error(created, 400, pointer="/data/attributes/body", detail=detail)
    with unchanged(app):
        changed = api.patch(
            world.detail("text-templates"),
            {
                "data": patch_object(
                    world, "text-templates", attributes={"body": body, "name": "changed"}
                )
            },
        )
    assert_error(changed, 400, pointer="/data/attributes/body", detail=detail)
