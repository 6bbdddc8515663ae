"""The account's objects that bad-input tests corrupt requests against (the `world` fixture): the
seed campaign, a spare engagement without an activity, and a resource object per type that POST
accepts, so that each bad document differs from a good one in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from tests.assertions import assert_error, unchanged
from tests.client import ApiClient
from tests.factories import SeedCampaign, allot, build_seed_campaign, make_phone_number, resource

OTHER_ID = "yrbCdxqV2ZMdQBCszhA7TZ"  # well-formed, but no row has it
TYPES = ("phone-numbers", "text-templates", "engagements", "activities", "envelopes")
# Allotted to the account for `valid("phone-numbers")`; outside the block test_phone_numbers allots.
SPARE_NUMBER = "+15195550150"


@dataclass(frozen=True)
class World:
    """The seed campaign, a spare engagement without an activity, and valid bodies per type."""

    seed: SeedCampaign
    spare_engagement_id: str

    def collection(self, type_: str) -> str:
        return f"/api/v1/{type_}"

    def existing_id(self, type_: str) -> str:
        return {
            "phone-numbers": self.seed.phone_number_id,
            "text-templates": self.seed.template_id,
            "engagements": self.seed.engagement_id,
            "activities": self.seed.activity_id,
            "envelopes": self.seed.envelope_ids[0],
        }[type_]

    def detail(self, type_: str) -> str:
        return f"/api/v1/{type_}/{self.existing_id(type_)}"

    def valid(self, type_: str) -> dict[str, Any]:
        """A resource object that POST accepts (201) for this type."""
        seed = self.seed
        return {
            "phone-numbers": resource(
                "phone-numbers", {"number": SPARE_NUMBER, "name": "Main line", "throughput": 5}
            ),
            "text-templates": resource(
                "text-templates", {"name": "Reminder", "body": "Hi {{first-name}}"}
            ),
            "engagements": resource("engagements", {"name": "Spring", "direction": "outbound"}),
            "activities": resource(
                "activities",
                {"name": "Blast", "kind": "text"},
                {
                    "engagement": ("engagements", self.spare_engagement_id),
                    "text-template": ("text-templates", seed.template_id),
                    "phone-number": ("phone-numbers", seed.phone_number_id),
                },
            ),
            "envelopes": resource(
                "envelopes",
                {"phone-number": "+14165550199", "meta": {"first-name": "Ada"}},
                {"engagement": ("engagements", seed.engagement_id)},
            ),
        }[type_]["data"]


@pytest.fixture
def world(app: Flask, api: ApiClient) -> World:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
        allot(account_id=api.credentials.account_id, number=SPARE_NUMBER)
    seed = build_seed_campaign(api, phone_id)
    spare = api.post("/api/v1/engagements", resource("engagements", {"name": "Spare"}))
    assert spare.status == 201
    return World(seed, spare.data["id"])


def with_attributes(base: dict[str, Any], attributes: dict[str, Any]) -> dict[str, Any]:
    """`base` (a resource object) with `attributes` added or replaced."""
    return {**base, "attributes": {**base.get("attributes", {}), **attributes}}


def patch_object(world: World, type_: str, **members: Any) -> dict[str, Any]:
    """A resource object for PATCHing the world's row of `type_`, with `members`."""
    return {"type": type_, "id": world.existing_id(type_), **members}


def wrong_value(attributes: dict[str, Any], pointer: str) -> Any:
    """One wrong-attribute case: (attributes, pointer of the error), named after the attribute."""
    name, value = next(iter(attributes.items()))
    return pytest.param(attributes, pointer, id=f"{name}={str(value)[:20]}")


def assert_create_refused(
    app: Flask, world: World, api: ApiClient, type_: str, attributes: dict[str, Any], pointer: str
) -> None:
    """POSTing the world's valid `type_` object with `attributes` laid over it is a 400 at
    `pointer` that stores nothing."""
    body = {"data": with_attributes(world.valid(type_), attributes)}
    with unchanged(app):
        reply = api.post(world.collection(type_), body)
    assert_error(reply, 400, pointer=pointer)


def assert_update_refused(
    app: Flask, world: World, api: ApiClient, type_: str, attributes: dict[str, Any], pointer: str
) -> None:
    """PATCHing the world's row of `type_` with `attributes` is a 400 at `pointer` that changes
    nothing."""
    body = {"data": patch_object(world, type_, attributes=attributes)}
    with unchanged(app):
        reply = api.patch(world.detail(type_), body)
    assert_error(reply, 400, pointer=pointer)


def wrong_value_tests(type_: str, cases: list[Any]) -> tuple[Callable[..., None], ...]:
    """A resource module's two wrong-attribute tests over `cases` (`wrong_value`s): on create
    and on update, each a 400 at the case's pointer that changes nothing."""

    @pytest.mark.parametrize(("attributes", "pointer"), cases)
    def on_create(
        app: Flask, world: World, api: ApiClient, attributes: dict[str, Any], pointer: str
    ) -> None:
        assert_create_refused(app, world, api, type_, attributes, pointer)

    @pytest.mark.parametrize(("attributes", "pointer"), cases)
    def on_update(
        app: Flask, world: World, api: ApiClient, attributes: dict[str, Any], pointer: str
    ) -> None:
        assert_update_refused(app, world, api, type_, attributes, pointer)

    return on_create, on_update
