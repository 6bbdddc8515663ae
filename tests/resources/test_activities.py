"""`activities` CRUD: the status mirrors the engagement's, the template and sender may change only
while the engagement is pending, one activity per pending engagement, and attribute values (an
unknown or unsupported kind among them) refused at their pointer. (Refused relationships:
test_activity_relationships.py.)"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import select

from campaign.extensions import db
from tests.assertions import assert_error, unchanged
from tests.client import ApiClient, Reply, assert_created
from tests.factories import (
    BULK,
    envelope,
    make_phone_number,
    resource,
    seed_campaign,
)
from tests.servers import serve
from tests.world import World, patch_object, with_attributes, wrong_value, wrong_value_tests

URL = "/api/v1/activities"


def new_template(api: ApiClient, body: str = "Code {{code}}") -> str:
    reply = api.post(
        "/api/v1/text-templates", resource("text-templates", {"name": "Other", "body": body})
    )
    assert reply.status == 201
    return str(reply.data["id"])


def patch(
    api: ApiClient,
    id_: str,
    attributes: dict[str, Any] | None = None,
    relationships: dict[str, tuple[str, str]] | None = None,
) -> Reply:
    return api.patch(f"{URL}/{id_}", resource("activities", attributes, relationships, id_=id_))


def set_engagement_status(api: ApiClient, engagement_id: str, status: str) -> None:
    reply = api.patch(
        f"/api/v1/engagements/{engagement_id}",
        resource("engagements", {"status": status}, id_=engagement_id),
    )
    # Scheduling is accepted for the dispatcher to carry out (202); the other moves are done (200).
    assert reply.status == (202 if status == "scheduled" else 200), reply.document


def test_create_links_engagement_template_sender_and_earlier_envelopes(
    app: Flask, api: ApiClient
) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    template_id = new_template(api)
    engagement_id = api.post("/api/v1/engagements", resource("engagements", {"name": "E"})).data[
        "id"
    ]
    # Envelopes uploaded before the activity exists belong to it once it does.
    uploaded = api.post(
        "/api/v1/envelopes", {"data": [envelope(engagement_id, "+15197566220")]}, headers=BULK
    )
    assert uploaded.data[0]["relationships"]["activity"]["data"] is None

    data = assert_created(
        api.post(
            URL,
            resource(
                "activities",
                {"name": "Blast", "kind": "text"},
                {
                    "engagement": ("engagements", engagement_id),
                    "text-template": ("text-templates", template_id),
                    "phone-number": ("phone-numbers", phone_id),
                },
            ),
        ),
        "activities",
    )
    assert data["attributes"]["name"] == "Blast"
    assert data["attributes"]["kind"] == "text"
    assert data["attributes"]["status"] == "pending"
    assert {name: link["data"]["id"] for name, link in data["relationships"].items()} == {
        "engagement": engagement_id,
        "text-template": template_id,
        "phone-number": phone_id,
    }
    assert api.get(f"{URL}/{data['id']}").data == data
    envelope_id = uploaded.data[0]["id"]
    assert api.get(f"/api/v1/envelopes/{envelope_id}").data["relationships"]["activity"][
        "data"
    ] == {"type": "activities", "id": data["id"]}


def test_status_mirrors_the_engagement(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    for status, expected in (
        ("scheduled", "scheduled"),
        ("paused", "paused"),
        ("cancelled", "cancelled"),
    ):
        set_engagement_status(api, campaign.engagement_id, status)
        assert api.get(f"{URL}/{campaign.activity_id}").data["attributes"]["status"] == expected
        listed = api.get(f"{URL}?filter[engagement]={campaign.engagement_id}").data
        assert [item["attributes"]["status"] for item in listed] == [expected]


def test_patch_template_while_pending_changes_only_the_template(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    before = api.get(f"{URL}/{campaign.activity_id}").data
    template_id = new_template(api)
    reply = patch(
        api, campaign.activity_id, relationships={"text-template": ("text-templates", template_id)}
    )
    assert reply.status == 200
    assert reply.data["relationships"]["text-template"]["data"]["id"] == template_id
    assert reply.data["relationships"]["phone-number"] == before["relationships"]["phone-number"]
    assert reply.data["relationships"]["engagement"] == before["relationships"]["engagement"]
    assert reply.data["attributes"]["name"] == before["attributes"]["name"]
    assert reply.data["attributes"]["updated-at"] > before["attributes"]["updated-at"]
    read = api.get(f"{URL}/{campaign.activity_id}?include=text-template")
    assert read.data["relationships"]["text-template"]["data"]["id"] == template_id
    assert [item["id"] for item in read.document["included"]] == [template_id]


def test_patch_name_keeps_the_relationships(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    before = api.get(f"{URL}/{campaign.activity_id}").data
    reply = patch(api, campaign.activity_id, {"name": "Renamed"})
    assert reply.status == 200
    assert reply.data["attributes"]["name"] == "Renamed"
    assert reply.data["relationships"] == before["relationships"]


def test_patch_template_after_scheduling_is_a_conflict(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    set_engagement_status(api, campaign.engagement_id, "scheduled")
    template_id = new_template(api)
    reply = patch(
        api, campaign.activity_id, relationships={"text-template": ("text-templates", template_id)}
    )
    assert reply.status == 409
    assert reply.pointers() == ["/data/relationships/text-template/data"]
    assert (
        api.get(f"{URL}/{campaign.activity_id}").data["relationships"]["text-template"]["data"][
            "id"
        ]
        == campaign.template_id
    )


def test_patch_template_of_another_account_is_not_found(
    app: Flask, api: ApiClient, other_api: ApiClient
) -> None:
    campaign = seed_campaign(app, api)
    foreign = new_template(other_api)
    reply = patch(
        api, campaign.activity_id, relationships={"text-template": ("text-templates", foreign)}
    )
    assert reply.status == 404
    assert reply.pointers() == ["/data/relationships/text-template/data"]
    assert (
        api.get(f"{URL}/{campaign.activity_id}").data["relationships"]["text-template"]["data"][
            "id"
        ]
        == campaign.template_id
    )


def test_delete_while_pending_answers_204_then_404(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    deleted = api.delete(f"{URL}/{campaign.activity_id}")
    assert deleted.status == 204
    assert api.get(f"{URL}/{campaign.activity_id}").status == 404
    assert api.delete(f"{URL}/{campaign.activity_id}").status == 404
    assert (
        api.get(f"/api/v1/engagements/{campaign.engagement_id}").data["relationships"]["activity"][
            "data"
        ]
        is None
    )


def test_delete_after_scheduling_is_a_conflict(app: Flask, api: ApiClient) -> None:
    campaign = seed_campaign(app, api)
    set_engagement_status(api, campaign.engagement_id, "scheduled")
    assert api.delete(f"{URL}/{campaign.activity_id}").status == 409
    assert api.get(f"{URL}/{campaign.activity_id}").status == 200


def test_concurrent_creates_for_one_engagement_make_one_entry(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    template_id = new_template(api)
    engagement = api.post(
        "/api/v1/engagements", resource("engagements", {"name": "Race", "direction": "outbound"})
    )
    body = json.dumps(
        resource(
            "activities",
            {"name": "Text Blast", "kind": "text"},
            {
                "engagement": ("engagements", engagement.data["id"]),
                "text-template": ("text-templates", template_id),
                "phone-number": ("phone-numbers", phone_id),
            },
        )
    )
    racers = 8
    start = threading.Barrier(racers)

    def create(base_url: str) -> httpx.Response:
        start.wait(timeout=10)
        return httpx.post(f"{base_url}{URL}", content=body, headers=api.headers(), timeout=30)

    with serve(app) as base_url, ThreadPoolExecutor(racers) as pool:
        replies = list(pool.map(lambda _: create(base_url), range(racers)))
    assert [reply.status_code for reply in replies] == [201] * racers
    listed = api.get(f"{URL}?filter[engagement]={engagement.data['id']}")
    assert len(listed.data) == racers
    # The engagement row is locked by each create, so exactly one found no entry and became it:
    # the first to commit.
    entry = api.get(f"/api/v1/engagements/{engagement.data['id']}").data["relationships"]
    entry_id = entry["activity"]["data"]["id"]
    assert entry_id in {reply.json()["data"]["id"] for reply in replies}
    with app.app_context():
        from campaign.models import Activity

        first = db.session.scalars(
            select(Activity)
            .where(Activity.engagement_id == engagement.data["id"])
            .order_by(Activity.created_at, Activity.id)
        ).first()
        assert first is not None and first.id == entry_id


WRONG_VALUES = [
    wrong_value({"name": 5}, "/data/attributes/name"),
    wrong_value({"name": ""}, "/data/attributes/name"),
    wrong_value({"kind": 5}, "/data/attributes/kind"),
    wrong_value({"kind": None}, "/data/attributes/kind"),
]


test_wrong_value_on_create_is_400, test_wrong_value_on_update_is_400 = wrong_value_tests(
    "activities", WRONG_VALUES
)


@pytest.mark.parametrize("kind", ["voice", "email"])
def test_unsupported_activity_kind_is_400_not_supported(
    app: Flask, world: World, api: ApiClient, kind: str
) -> None:
    body = {"data": with_attributes(world.valid("activities"), {"kind": kind})}
    with unchanged(app):
        reply = api.post("/api/v1/activities", body)
    assert_error(reply, 400, pointer="/data/attributes/kind", detail="not supported")
    with unchanged(app):
        changed = api.patch(
            world.detail("activities"),
            {"data": patch_object(world, "activities", attributes={"kind": kind})},
        )
    assert_error(changed, 400, pointer="/data/attributes/kind", detail="not supported")


def test_unknown_activity_kind_is_400(app: Flask, world: World, api: ApiClient) -> None:
    body = {"data": with_attributes(world.valid("activities"), {"kind": "fax"})}
    with unchanged(app):
        reply = api.post("/api/v1/activities", body)
    assert_error(reply, 400, pointer="/data/attributes/kind", detail="'fax'")


def test_second_activity_joins_the_engagement_and_the_first_stays_its_entry(
    world: World, api: ApiClient
) -> None:
    base = world.valid("activities")
    body = {
        "data": {
            **base,
            "relationships": {
                **base["relationships"],
                "engagement": {"data": {"type": "engagements", "id": world.seed.engagement_id}},
            },
        }
    }
    reply = api.post("/api/v1/activities", body)
    assert reply.status == 201
    engagement = api.get(f"/api/v1/engagements/{world.seed.engagement_id}").data
    assert engagement["relationships"]["activity"]["data"]["id"] == world.seed.activity_id
    listed = api.get(f"{URL}?filter[engagement]={world.seed.engagement_id}").data
    assert {item["id"] for item in listed} == {world.seed.activity_id, reply.data["id"]}


def test_activity_for_a_cancelled_engagement_is_409(
    app: Flask, world: World, api: ApiClient
) -> None:
    cancelled = api.patch(
        f"/api/v1/engagements/{world.spare_engagement_id}",
        resource("engagements", {"status": "cancelled"}, id_=world.spare_engagement_id),
    )
    assert cancelled.status == 200
    with unchanged(app):
        reply = api.post("/api/v1/activities", {"data": world.valid("activities")})
    assert_error(reply, 409, pointer="/data/relationships/engagement/data", detail="pending")
