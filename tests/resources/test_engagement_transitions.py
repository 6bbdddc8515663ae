"""Engagement status moves and delivery changes that are refused: scheduling what cannot send,
statuses only the dispatcher sets, moves out of a final status, and delivery settings that are
missing, past or frozen; each answered with the error that says why, nothing stored or enqueued."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.assertions import assert_error, unchanged
from tests.client import ApiClient
from tests.factories import BULK, envelope, resource, schedule
from tests.world import World


def _engagement_patch(engagement_id: str, **attributes: Any) -> dict[str, Any]:
    return resource("engagements", attributes, id_=engagement_id)


def _add_activity(api: ApiClient, world: World, engagement_id: str) -> str:
    reply = api.post(
        "/api/v1/activities",
        resource(
            "activities",
            {"name": "A", "kind": "text"},
            {
                "engagement": ("engagements", engagement_id),
                "text-template": ("text-templates", world.seed.template_id),
                "phone-number": ("phone-numbers", world.seed.phone_number_id),
            },
        ),
    )
    assert reply.status == 201, reply.document
    return reply.data["id"]


def _add_envelopes(api: ApiClient, engagement_id: str, *numbers: str) -> None:
    reply = api.post(
        "/api/v1/envelopes",
        {"data": [envelope(engagement_id, number) for number in numbers]},
        headers=BULK,
    )
    assert reply.status == 201, reply.document


def test_scheduling_without_an_activity_is_409_saying_so(
    app: Flask, world: World, api: ApiClient
) -> None:
    _add_envelopes(api, world.spare_engagement_id, "+15197566220")
    with unchanged(app):
        reply = schedule(api, world.spare_engagement_id)
    assert_error(reply, 409, pointer="/data/attributes/status", detail="no activity")


def test_scheduling_without_envelopes_is_409_saying_so(
    app: Flask, world: World, api: ApiClient
) -> None:
    _add_activity(api, world, world.spare_engagement_id)
    with unchanged(app):
        reply = schedule(api, world.spare_engagement_id)
    assert_error(reply, 409, pointer="/data/attributes/status", detail="no envelopes")


def test_scheduling_after_the_template_was_deleted_is_409_saying_so(
    app: Flask, world: World, api: ApiClient
) -> None:
    assert api.delete(world.detail("text-templates")).status == 204
    with unchanged(app):
        reply = schedule(api, world.seed.engagement_id)
    assert_error(reply, 409, pointer="/data/attributes/status", detail="text template")


def test_scheduling_when_envelopes_lack_template_variables_is_409(
    app: Flask, world: World, api: ApiClient
) -> None:
    _add_activity(api, world, world.spare_engagement_id)
    _add_envelopes(api, world.spare_engagement_id, "+15197566220", "+19734390088")
    with unchanged(app):
        reply = schedule(api, world.spare_engagement_id)
    assert_error(reply, 409, pointer="/data/attributes/status", detail="'first-name' (2")


@pytest.mark.parametrize("status", ["completed", "sending"])
def test_client_cannot_set_dispatcher_statuses(
    app: Flask, world: World, api: ApiClient, status: str
) -> None:
    with unchanged(app):
        reply = api.patch(
            world.detail("engagements"), _engagement_patch(world.seed.engagement_id, status=status)
        )
    assert_error(reply, 409, pointer="/data/attributes/status", detail="dispatcher")


def test_pausing_a_pending_engagement_is_409(app: Flask, world: World, api: ApiClient) -> None:
    with unchanged(app):
        reply = api.patch(
            world.detail("engagements"),
            _engagement_patch(world.seed.engagement_id, status="paused"),
        )
    assert_error(
        reply, 409, pointer="/data/attributes/status", detail="pending cannot become paused"
    )


def test_cancelled_engagement_cannot_be_scheduled(app: Flask, world: World, api: ApiClient) -> None:
    cancelled = api.patch(
        world.detail("engagements"), _engagement_patch(world.seed.engagement_id, status="cancelled")
    )
    assert cancelled.status == 200, cancelled.document
    with unchanged(app):
        reply = schedule(api, world.seed.engagement_id)
    assert_error(
        reply, 409, pointer="/data/attributes/status", detail="cancelled cannot become scheduled"
    )


def test_new_engagement_cannot_start_scheduled(app: Flask, world: World, api: ApiClient) -> None:
    with unchanged(app):
        reply = api.post(
            "/api/v1/engagements", resource("engagements", {"name": "E", "status": "scheduled"})
        )
    assert_error(reply, 409, pointer="/data/attributes/status", detail="pending")


def test_scheduled_delivery_without_time_on_create_is_400(
    app: Flask, world: World, api: ApiClient
) -> None:
    with unchanged(app):
        reply = api.post(
            "/api/v1/engagements",
            resource("engagements", {"name": "E", "delivery-type": "scheduled"}),
        )
    assert_error(reply, 400, pointer="/data/attributes/delivery-time", detail="required")


@pytest.mark.parametrize("extra", [{}, {"status": "scheduled"}], ids=["alone", "scheduling"])
def test_scheduled_delivery_without_time_on_update_is_400(
    app: Flask, world: World, api: ApiClient, extra: dict[str, str]
) -> None:
    with unchanged(app):
        reply = api.patch(
            world.detail("engagements"),
            _engagement_patch(world.seed.engagement_id, **{"delivery-type": "scheduled"}, **extra),
        )
    assert_error(reply, 400, pointer="/data/attributes/delivery-time", detail="required")


def test_scheduling_with_delivery_time_in_the_past_is_400(
    app: Flask, world: World, api: ApiClient
) -> None:
    with unchanged(app):
        reply = schedule(
            api,
            world.seed.engagement_id,
            **{"delivery-type": "scheduled", "delivery-time": "2001-01-01T00:00:00.000000Z"},
        )
    assert_error(reply, 400, pointer="/data/attributes/delivery-time", detail="in the past")


def test_delivery_settings_of_a_scheduled_engagement_are_frozen(
    app: Flask, world: World, api: ApiClient
) -> None:
    scheduled = schedule(api, world.seed.engagement_id)
    assert scheduled.status == 202, scheduled.document
    with unchanged(app):
        reply = api.patch(
            world.detail("engagements"),
            _engagement_patch(
                world.seed.engagement_id,
                **{"delivery-type": "scheduled", "delivery-time": "2031-01-01T09:00:00.000000Z"},
            ),
        )
    assert_error(reply, 409, pointer="/data/attributes/delivery-type", detail="pending or paused")
