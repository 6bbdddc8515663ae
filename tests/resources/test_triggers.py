"""`triggers` CRUD: the link from an activity's event (a split's category) to the next activity of
the same engagement, its defaults, filters, and every refusal a 400/404/409 at its pointer that
stores nothing: another engagement's or account's activity, an event the activity's kind does
not have, a category where none belongs or one the split lacks, a duplicate, and any change once
the engagement is scheduled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask

from tests.assertions import assert_error, unchanged
from tests.client import ApiClient, Reply, assert_created
from tests.factories import resource, schedule
from tests.world import World

URL = "/api/v1/triggers"
RULES = [
    {"category": "Shipped", "test": "equals", "arguments": ["shipped"]},
    {"category": "Late", "test": "contains-any", "arguments": ["delayed late"]},
]


@dataclass(frozen=True)
class Flow:
    """The seed engagement (pending) with its text, a web call and a split; the spare
    engagement with a web call of its own."""

    engagement_id: str
    text_id: str
    web_call_id: str
    split_id: str
    other_engagement_id: str
    other_web_call_id: str


def add_activity(api: ApiClient, engagement_id: str, attributes: dict[str, Any]) -> str:
    reply = api.post(
        "/api/v1/activities",
        resource("activities", attributes, {"engagement": ("engagements", engagement_id)}),
    )
    assert reply.status == 201, reply.document
    return str(reply.data["id"])


def weather(api: ApiClient, engagement_id: str) -> str:
    return add_activity(
        api,
        engagement_id,
        {"name": "Weather", "kind": "web-call", "url": "https://api.weather.gov/points/1,2"},
    )


@pytest.fixture
def flow(world: World, api: ApiClient) -> Flow:
    engagement_id = world.seed.engagement_id
    split_id = add_activity(
        api,
        engagement_id,
        {"name": "By status", "kind": "split", "variable": "status", "rules": RULES},
    )
    return Flow(
        engagement_id,
        world.seed.activity_id,
        weather(api, engagement_id),
        split_id,
        world.spare_engagement_id,
        weather(api, world.spare_engagement_id),
    )


def trigger(source: str, target: str, **attributes: Any) -> dict[str, Any]:
    return resource(
        "triggers",
        attributes,
        {"activity": ("activities", source), "next-activity": ("activities", target)},
    )


def create(api: ApiClient, source: str, target: str, **attributes: Any) -> Reply:
    return api.post(URL, trigger(source, target, **attributes))


def patch(api: ApiClient, id_: str, **attributes: Any) -> Reply:
    return api.patch(f"{URL}/{id_}", resource("triggers", attributes, id_=id_))


def test_create_defaults_kind_and_delay_and_links_both_activities_and_the_engagement(
    flow: Flow, api: ApiClient
) -> None:
    data = assert_created(
        create(api, flow.web_call_id, flow.split_id, **{"on-event": "web-call-success"}),
        "triggers",
    )
    assert {
        name: data["attributes"][name]
        for name in ("kind", "on-event", "category", "delay-in-seconds")
    } == {
        "kind": "activity",
        "on-event": "web-call-success",
        "category": None,
        "delay-in-seconds": 0,
    }
    assert {name: link["data"]["id"] for name, link in data["relationships"].items()} == {
        "engagement": flow.engagement_id,
        "activity": flow.web_call_id,
        "next-activity": flow.split_id,
    }
    assert api.get(f"{URL}/{data['id']}").data == data


def test_a_split_category_is_matched_ignoring_case_and_shown_as_the_split_spells_it(
    flow: Flow, api: ApiClient
) -> None:
    shipped = create(
        api, flow.split_id, flow.text_id, **{"on-event": "split", "category": "SHIPPED"}
    )
    assert shipped.status == 201, shipped.document
    assert shipped.data["attributes"]["category"] == "Shipped"
    other = create(
        api,
        flow.split_id,
        flow.web_call_id,
        **{"on-event": "split", "category": "other", "delay-in-seconds": 3600},
    )
    assert other.status == 201, other.document
    assert (other.data["attributes"]["category"], other.data["attributes"]["delay-in-seconds"]) == (
        "Other",
        3600,
    )


def test_list_filters_by_activity_and_engagement(flow: Flow, api: ApiClient) -> None:
    first = create(api, flow.web_call_id, flow.split_id, **{"on-event": "web-call-success"})
    second = create(api, flow.text_id, flow.web_call_id, **{"on-event": "text-sent"})
    elsewhere = create(
        api, flow.other_web_call_id, flow.other_web_call_id, **{"on-event": "web-call-failure"}
    )
    assert {first.status, second.status, elsewhere.status} == {201}
    by_activity = api.get(f"{URL}?filter[activity]={flow.text_id}").data
    assert [item["id"] for item in by_activity] == [second.data["id"]]
    by_engagement = api.get(f"{URL}?filter[engagement]={flow.engagement_id}").data
    assert {item["id"] for item in by_engagement} == {first.data["id"], second.data["id"]}
    assert len(api.get(URL).data) == 3


def test_patch_changes_only_what_is_given(flow: Flow, api: ApiClient) -> None:
    created = create(api, flow.web_call_id, flow.split_id, **{"on-event": "web-call-success"}).data
    reply = patch(api, created["id"], **{"delay-in-seconds": 90})
    assert reply.status == 200, reply.document
    assert reply.data["attributes"]["delay-in-seconds"] == 90
    assert reply.data["attributes"]["on-event"] == "web-call-success"
    assert reply.data["relationships"] == created["relationships"]
    moved = api.patch(
        f"{URL}/{created['id']}",
        {
            "data": {
                "type": "triggers",
                "id": created["id"],
                "relationships": {
                    "next-activity": {"data": {"type": "activities", "id": flow.text_id}}
                },
            }
        },
    )
    assert moved.status == 200, moved.document
    assert moved.data["relationships"]["next-activity"]["data"]["id"] == flow.text_id
    assert moved.data["attributes"]["delay-in-seconds"] == 90


def test_delete_answers_204_then_404(flow: Flow, api: ApiClient) -> None:
    created = create(api, flow.web_call_id, flow.split_id, **{"on-event": "web-call-success"}).data
    assert api.delete(f"{URL}/{created['id']}").status == 204
    assert api.get(f"{URL}/{created['id']}").status == 404
    assert api.delete(f"{URL}/{created['id']}").status == 404


# (what the trigger is: source, target and attributes from the flow; the answer's status and
# pointer)
BAD_TRIGGERS = [
    pytest.param(
        lambda f: (f.web_call_id, f.other_web_call_id, {"on-event": "web-call-success"}),
        400,
        "/data/relationships/next-activity/data",
        id="next-activity-of-another-engagement",
    ),
    pytest.param(
        lambda f: (f.web_call_id, f.split_id, {"on-event": "text-sent"}),
        400,
        "/data/attributes/on-event",
        id="event-of-another-kind",
    ),
    pytest.param(
        lambda f: (f.web_call_id, f.split_id, {"on-event": "web-call-timeout"}),
        400,
        "/data/attributes/on-event",
        id="unknown-event",
    ),
    pytest.param(
        lambda f: (f.web_call_id, f.split_id, {}),
        400,
        "/data/attributes/on-event",
        id="no-event",
    ),
    pytest.param(
        lambda f: (f.web_call_id, f.split_id, {"on-event": "web-call-success", "category": "A"}),
        400,
        "/data/attributes/category",
        id="category-on-a-web-call",
    ),
    pytest.param(
        lambda f: (f.split_id, f.text_id, {"on-event": "split"}),
        400,
        "/data/attributes/category",
        id="split-without-category",
    ),
    pytest.param(
        lambda f: (f.split_id, f.text_id, {"on-event": "split", "category": "Lost"}),
        400,
        "/data/attributes/category",
        id="category-the-split-lacks",
    ),
    pytest.param(
        lambda f: (f.text_id, f.split_id, {"on-event": "text-sent", "delay-in-seconds": -1}),
        400,
        "/data/attributes/delay-in-seconds",
        id="negative-delay",
    ),
    pytest.param(
        lambda f: (f.text_id, f.split_id, {"on-event": "text-sent", "delay-in-seconds": "5"}),
        400,
        "/data/attributes/delay-in-seconds",
        id="delay-a-string",
    ),
    pytest.param(
        lambda f: (f.text_id, f.split_id, {"on-event": "text-sent", "kind": "voice"}),
        400,
        "/data/attributes/kind",
        id="kind",
    ),
    pytest.param(
        lambda f: (f.text_id, "yrbCdxqV2ZMdQBCszhA7TZ", {"on-event": "text-sent"}),
        404,
        "/data/relationships/next-activity/data",
        id="unknown-next-activity",
    ),
]


@pytest.mark.parametrize(("build", "status", "pointer"), BAD_TRIGGERS)
def test_a_bad_trigger_is_refused_at_its_pointer(
    app: Flask, flow: Flow, api: ApiClient, build: Any, status: int, pointer: str
) -> None:
    source, target, attributes = build(flow)
    with unchanged(app):
        reply = create(api, source, target, **attributes)
    assert_error(reply, status, pointer=pointer)


def test_a_trigger_without_its_activities_is_400_at_each(
    app: Flask, flow: Flow, api: ApiClient
) -> None:
    with unchanged(app):
        reply = api.post(URL, resource("triggers", {"on-event": "text-sent"}))
    assert reply.status == 400
    assert set(reply.pointers()) == {
        "/data/relationships/activity/data",
        "/data/relationships/next-activity/data",
    }


def test_another_accounts_activity_is_not_found_at_its_pointer(
    app: Flask, flow: Flow, api: ApiClient, other_api: ApiClient
) -> None:
    theirs = api_engagement_with_web_call(other_api)
    with unchanged(app):
        as_next = create(api, flow.web_call_id, theirs, **{"on-event": "web-call-success"})
    assert_error(as_next, 404, pointer="/data/relationships/next-activity/data")
    with unchanged(app):
        as_source = create(api, theirs, flow.web_call_id, **{"on-event": "web-call-success"})
    assert_error(as_source, 404, pointer="/data/relationships/activity/data")


def api_engagement_with_web_call(api: ApiClient) -> str:
    engagement = api.post("/api/v1/engagements", resource("engagements", {"name": "Theirs"}))
    assert engagement.status == 201
    return weather(api, engagement.data["id"])


def test_a_second_trigger_on_the_same_event_is_409(app: Flask, flow: Flow, api: ApiClient) -> None:
    first = create(api, flow.web_call_id, flow.split_id, **{"on-event": "web-call-success"})
    assert first.status == 201
    with unchanged(app):
        again = create(api, flow.web_call_id, flow.text_id, **{"on-event": "web-call-success"})
    assert_error(again, 409, pointer="/data/attributes/on-event", detail="already has a trigger")
    # Another event of the same activity is another outcome: allowed.
    failure = create(api, flow.web_call_id, flow.text_id, **{"on-event": "web-call-failure"})
    assert failure.status == 201
    # Moving that one onto the taken event is the same conflict.
    with unchanged(app):
        moved = patch(api, failure.data["id"], **{"on-event": "web-call-success"})
    assert_error(moved, 409, pointer="/data/attributes/on-event")


def test_a_second_trigger_on_the_same_category_is_409(
    app: Flask, flow: Flow, api: ApiClient
) -> None:
    shipped = {"on-event": "split", "category": "Shipped"}
    assert create(api, flow.split_id, flow.text_id, **shipped).status == 201
    with unchanged(app):
        again = create(api, flow.split_id, flow.web_call_id, **{**shipped, "category": "shipped"})
    assert_error(again, 409, pointer="/data/attributes/category")
    late = create(api, flow.split_id, flow.web_call_id, **{"on-event": "split", "category": "Late"})
    assert late.status == 201


def test_a_patch_to_an_event_of_another_kind_is_400(app: Flask, flow: Flow, api: ApiClient) -> None:
    created = create(api, flow.text_id, flow.split_id, **{"on-event": "text-sent"}).data
    with unchanged(app):
        reply = patch(api, created["id"], **{"on-event": "split", "category": "Shipped"})
    assert_error(reply, 400, pointer="/data/attributes/on-event")


def test_no_trigger_changes_once_the_engagement_is_scheduled(
    app: Flask, flow: Flow, api: ApiClient
) -> None:
    created = create(api, flow.text_id, flow.web_call_id, **{"on-event": "text-sent"}).data
    assert schedule(api, flow.engagement_id).status == 202
    with unchanged(app):
        added = create(api, flow.web_call_id, flow.split_id, **{"on-event": "web-call-success"})
        changed = patch(api, created["id"], **{"delay-in-seconds": 5})
        deleted = api.delete(f"{URL}/{created['id']}")
    assert_error(added, 409, pointer="/data/relationships/activity/data", detail="pending")
    assert_error(changed, 409, detail="pending")
    assert deleted.status == 409
    assert api.get(f"{URL}/{created['id']}").data == created


def test_another_account_cannot_see_or_change_a_trigger(
    app: Flask, flow: Flow, api: ApiClient, other_api: ApiClient
) -> None:
    created = create(api, flow.text_id, flow.split_id, **{"on-event": "text-sent"}).data
    url = f"{URL}/{created['id']}"
    with unchanged(app):
        assert_error(other_api.get(url), 404)
        assert_error(patch(other_api, created["id"], **{"delay-in-seconds": 5}), 404)
        assert_error(other_api.delete(url), 404)
    assert other_api.get(URL).data == []
    assert api.get(url).data == created
