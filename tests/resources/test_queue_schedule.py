"""Engagements' quiet hours over the API: `queue-schedule-is-enabled`, `queue-schedule`
`{timezone, start, end, days}` and `fallback-timezone`, written on POST and PATCH and shown in
their stored form; each bad value a 400 at its member that stores nothing; changed only while
the engagement is pending or paused. (What the send path makes of them: tests/workers/
test_quiet_hours.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.assertions import assert_error, unchanged
from tests.client import ApiClient, Reply, assert_created
from tests.factories import resource, scheduled_seed_campaign, seed_campaign
from tests.world import wrong_value, wrong_value_tests

URL = "/api/v1/engagements"
POINTER = "/data/attributes/queue-schedule"
SCHEDULE = {"timezone": "America/New_York", "start": "08:00", "end": "21:00"}
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _patch(api: ApiClient, id_: str, **attributes: Any) -> Reply:
    return api.patch(f"{URL}/{id_}", resource("engagements", attributes, id_=id_))


def _quiet_hours(attributes: dict[str, Any]) -> tuple[Any, Any, Any]:
    return (
        attributes["queue-schedule-is-enabled"],
        attributes["queue-schedule"],
        attributes["fallback-timezone"],
    )


def test_a_new_engagement_has_quiet_hours_off_and_utc_as_fallback(api: ApiClient) -> None:
    data = assert_created(api.post(URL, resource("engagements", {"name": "Plain"})), "engagements")
    assert _quiet_hours(data["attributes"]) == (False, None, "UTC")


def test_quiet_hours_round_trip_in_their_stored_form(api: ApiClient) -> None:
    """Days come back in week order, all seven when none were given."""
    written = {"timezone": "America/New_York", "start": "09:30", "end": "20:00"}
    created = assert_created(
        api.post(
            URL,
            resource(
                "engagements",
                {
                    "name": "Evening",
                    "queue-schedule-is-enabled": True,
                    "queue-schedule": {**written, "days": ["fri", "mon", "wed"]},
                    "fallback-timezone": "America/Chicago",
                },
            ),
        ),
        "engagements",
    )
    shown = {**written, "days": ["mon", "wed", "fri"]}
    assert _quiet_hours(created["attributes"]) == (True, shown, "America/Chicago")
    engagement_id = created["id"]
    assert _quiet_hours(api.get(f"{URL}/{engagement_id}").data["attributes"]) == (
        True,
        shown,
        "America/Chicago",
    )

    recipient = {"timezone": "recipient", "start": "08:00", "end": "21:00"}
    changed = _patch(api, engagement_id, **{"queue-schedule": recipient})
    assert changed.status == 200, changed.document
    assert changed.data["attributes"]["queue-schedule"] == {**recipient, "days": EVERY_DAY}

    # Off keeps the schedule for later; with quiet hours off it may also be removed.
    off = _patch(api, engagement_id, **{"queue-schedule-is-enabled": False})
    assert _quiet_hours(off.data["attributes"]) == (
        False,
        {**recipient, "days": EVERY_DAY},
        "America/Chicago",
    )
    cleared = _patch(api, engagement_id, **{"queue-schedule": None, "fallback-timezone": "UTC"})
    assert cleared.status == 200, cleared.document
    assert _quiet_hours(api.get(f"{URL}/{engagement_id}").data["attributes"]) == (
        False,
        None,
        "UTC",
    )


def _with(**members: Any) -> dict[str, Any]:
    return {"queue-schedule": {**SCHEDULE, **members}}


def _without(member: str) -> dict[str, Any]:
    return {"queue-schedule": {k: v for k, v in SCHEDULE.items() if k != member}}


LONG = "A" * 10_000
WRONG_VALUES = [
    wrong_value(_with(start="21:00", end="08:00"), f"{POINTER}/end"),
    wrong_value(_with(start="08:00", end="08:00"), f"{POINTER}/end"),
    wrong_value(_with(timezone="Mars/Olympus_Mons"), f"{POINTER}/timezone"),
    wrong_value(_with(timezone="america/new_york"), f"{POINTER}/timezone"),
    wrong_value(_with(timezone="../../../etc/passwd"), f"{POINTER}/timezone"),
    wrong_value(_with(timezone=LONG), f"{POINTER}/timezone"),
    wrong_value(_with(timezone=5), f"{POINTER}/timezone"),
    wrong_value(_without("timezone"), f"{POINTER}/timezone"),
    wrong_value(_with(days=["mon", "funday"]), f"{POINTER}/days/1"),
    wrong_value(_with(days=["Mon"]), f"{POINTER}/days/0"),
    wrong_value(_with(days=["mon", "tue", "mon"]), f"{POINTER}/days/2"),
    wrong_value(_with(days=[]), f"{POINTER}/days"),
    wrong_value(_with(days="mon"), f"{POINTER}/days"),
    wrong_value(_with(start="8:00"), f"{POINTER}/start"),
    wrong_value(_with(start="24:00"), f"{POINTER}/start"),
    wrong_value(_with(end="21:60"), f"{POINTER}/end"),
    wrong_value(_with(start=LONG), f"{POINTER}/start"),
    wrong_value(_with(start=800), f"{POINTER}/start"),
    wrong_value(_without("start"), f"{POINTER}/start"),
    wrong_value(_without("end"), f"{POINTER}/end"),
    wrong_value({"queue-schedule": "08:00-21:00"}, POINTER),
    wrong_value({"queue-schedule": [SCHEDULE]}, POINTER),
    wrong_value({"queue-schedule": {**SCHEDULE, "zone": "UTC"}}, f"{POINTER}/zone"),
    wrong_value({"queue-schedule": {**SCHEDULE, "a/b": 1}}, f"{POINTER}/a~1b"),
    wrong_value({"queue-schedule-is-enabled": True}, "/data/attributes/queue-schedule-is-enabled"),
    wrong_value(
        {"queue-schedule-is-enabled": "true", **_with()},
        "/data/attributes/queue-schedule-is-enabled",
    ),
    wrong_value(
        {"queue-schedule-is-enabled": 1, **_with()}, "/data/attributes/queue-schedule-is-enabled"
    ),
    wrong_value({"fallback-timezone": "Nowhere/City"}, "/data/attributes/fallback-timezone"),
    wrong_value({"fallback-timezone": "recipient"}, "/data/attributes/fallback-timezone"),
    wrong_value({"fallback-timezone": ""}, "/data/attributes/fallback-timezone"),
    wrong_value({"fallback-timezone": LONG}, "/data/attributes/fallback-timezone"),
    wrong_value({"fallback-timezone": None}, "/data/attributes/fallback-timezone"),
    wrong_value({"fallback-timezone": 0}, "/data/attributes/fallback-timezone"),
]


test_wrong_value_on_create_is_400, test_wrong_value_on_update_is_400 = wrong_value_tests(
    "engagements", WRONG_VALUES
)


def test_end_before_start_says_so(api: ApiClient) -> None:
    reply = api.post(
        URL, resource("engagements", {"name": "Backwards", **_with(start="21:00", end="08:00")})
    )
    assert_error(reply, 400, pointer=f"{POINTER}/end", detail="end must be after start")


def test_an_unknown_zone_says_what_is_accepted(api: ApiClient) -> None:
    reply = api.post(
        URL, resource("engagements", {"name": "Nowhere", **_with(timezone="Europe/Atlantis")})
    )
    assert_error(reply, 400, pointer=f"{POINTER}/timezone", detail='or "recipient"')


def test_removing_the_schedule_of_enabled_quiet_hours_is_400_at_it(
    app: Flask, api: ApiClient
) -> None:
    created = assert_created(
        api.post(
            URL,
            resource(
                "engagements",
                {"name": "On", "queue-schedule-is-enabled": True, "queue-schedule": SCHEDULE},
            ),
        ),
        "engagements",
    )
    with unchanged(app):
        reply = _patch(api, created["id"], **{"queue-schedule": None})
    assert_error(reply, 400, pointer=POINTER, detail="needs a queue-schedule")


@pytest.mark.parametrize(
    ("attributes", "refused_at"),
    [
        ({"queue-schedule-is-enabled": True, **_with()}, "queue-schedule-is-enabled"),
        (_with(timezone="recipient"), "queue-schedule"),
        ({"fallback-timezone": "Europe/Paris"}, "fallback-timezone"),
    ],
    ids=["enable", "schedule", "fallback"],
)
def test_quiet_hours_of_a_scheduled_engagement_change_only_after_a_pause(
    app: Flask, api: ApiClient, attributes: dict[str, Any], refused_at: str
) -> None:
    """Texts already held wait for the opening of the window that held them; a pause, and the
    resume's fresh send jobs, let every one be checked again against the new settings."""
    seed = scheduled_seed_campaign(app, api)
    with unchanged(app):
        refused = _patch(api, seed.engagement_id, **attributes)
    error = assert_error(refused, 409, pointer=f"/data/attributes/{refused_at}")
    assert "pending or paused" in error["detail"]
    assert _patch(api, seed.engagement_id, status="paused").status == 200
    changed = _patch(api, seed.engagement_id, **attributes)
    assert changed.status == 200, changed.document
    for key, value in attributes.items():
        shown = changed.data["attributes"][key]
        assert shown == ({**value, "days": EVERY_DAY} if key == "queue-schedule" else value)


def test_restating_the_quiet_hours_of_a_scheduled_engagement_is_no_change(
    app: Flask, api: ApiClient
) -> None:
    """As a client that PATCHes back everything it read."""
    seed = scheduled_seed_campaign(app, api)
    shown = api.get(f"{URL}/{seed.engagement_id}").data["attributes"]
    restated = {
        key: shown[key]
        for key in ("queue-schedule-is-enabled", "queue-schedule", "fallback-timezone")
    }
    reply = _patch(api, seed.engagement_id, **restated)
    assert reply.status == 200, reply.document
    assert _quiet_hours(reply.data["attributes"]) == (False, None, "UTC")


def test_quiet_hours_set_while_pending_are_kept_when_scheduled(app: Flask, api: ApiClient) -> None:
    seed = seed_campaign(app, api)
    settings = {"queue-schedule-is-enabled": True, **_with(days=["sat", "sun"])}
    assert _patch(api, seed.engagement_id, **settings).status == 200
    scheduled = _patch(api, seed.engagement_id, status="scheduled")
    assert scheduled.status == 202, scheduled.document
    assert _quiet_hours(scheduled.data["attributes"]) == (
        True,
        {**SCHEDULE, "days": ["sat", "sun"]},
        "UTC",
    )
