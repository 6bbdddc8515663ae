"""An activity's relationships (engagement, text template, sender) that are refused: linkage of
the wrong shape or type, a missing or unknown related row, and a move to another engagement; each
a 400, 404 or 409 at the relationship's pointer, with nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.assertions import assert_error, unchanged
from tests.client import ApiClient
from tests.factories import resource
from tests.world import OTHER_ID, World, patch_object

# (relationships member of an activity, status, pointer)
BAD_ACTIVITY_LINKS: list[tuple[str, Callable[[World], dict[str, Any]], int, str]] = [
    (
        "wrong linkage type",
        lambda w: {"engagement": {"data": {"type": "texts", "id": w.spare_engagement_id}}},
        400,
        "/data/relationships/engagement/data",
    ),
    (
        "linkage id a number",
        lambda w: {"engagement": {"data": {"type": "engagements", "id": 5}}},
        400,
        "/data/relationships/engagement/data/id",
    ),
    (
        "linkage null",
        lambda w: {"engagement": {"data": None}},
        400,
        "/data/relationships/engagement/data",
    ),
    (
        "linkage array",
        lambda w: {"engagement": {"data": [{"type": "engagements", "id": w.spare_engagement_id}]}},
        400,
        "/data/relationships/engagement/data",
    ),
    (
        "relationship without data",
        lambda w: {"engagement": {"id": w.spare_engagement_id}},
        400,
        "/data/relationships/engagement",
    ),
    (
        "relationship a string",
        lambda w: {"engagement": w.spare_engagement_id},
        400,
        "/data/relationships/engagement",
    ),
    (
        "missing text-template",
        lambda w: {"text-template": None},
        400,
        "/data/relationships/text-template/data",
    ),
    (
        "unknown phone-number",
        lambda w: {"phone-number": {"data": {"type": "phone-numbers", "id": OTHER_ID}}},
        404,
        "/data/relationships/phone-number/data",
    ),
]


@pytest.mark.parametrize(
    ("label", "links", "status", "pointer"),
    BAD_ACTIVITY_LINKS,
    ids=[label for label, *_ in BAD_ACTIVITY_LINKS],
)
def test_bad_activity_relationship_is_refused_at_it(
    app: Flask,
    world: World,
    api: ApiClient,
    label: str,
    links: Callable[[World], dict[str, Any]],
    status: int,
    pointer: str,
) -> None:
    base = world.valid("activities")
    relationships = {**base["relationships"], **links(world)}
    # `None` removes a relationship altogether.
    relationships = {name: value for name, value in relationships.items() if value is not None}
    with unchanged(app):
        reply = api.post("/api/v1/activities", {"data": {**base, "relationships": relationships}})
    assert_error(reply, status, pointer=pointer)


def test_activity_without_relationships_reports_each_missing_one(
    app: Flask, world: World, api: ApiClient
) -> None:
    with unchanged(app):
        reply = api.post(
            "/api/v1/activities", resource("activities", {"name": "Blast", "kind": "text"})
        )
    assert reply.status == 400
    assert set(reply.pointers()) == {
        "/data/relationships/engagement/data",
        "/data/relationships/text-template/data",
        "/data/relationships/phone-number/data",
    }


def test_activity_cannot_move_to_another_engagement(
    app: Flask, world: World, api: ApiClient
) -> None:
    body = {
        "data": patch_object(
            world,
            "activities",
            relationships={
                "engagement": {"data": {"type": "engagements", "id": world.spare_engagement_id}}
            },
        )
    }
    with unchanged(app):
        reply = api.patch(world.detail("activities"), body)
    assert_error(
        reply, 409, pointer="/data/relationships/engagement/data", detail="another engagement"
    )
