"""The walk-through's requests as Omnigage's official SDK sends them: `application/json;
charset=utf-8` and no Accept on every write, a combined Content-Type on bulk uploads, `included`
copies of the related resources beside `data`, and a PATCH that restates unchanged attributes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from campaign.extensions import db
from campaign.models import Envelope
from tests.assertions import assert_error
from tests.client import ApiClient, LoopbackClient, Reply
from tests.factories import make_phone_number
from tests.servers import serve

SDK_WRITE = {"Content-Type": "application/json; charset=utf-8"}
SDK_BULK = {
    "Content-Type": "application/json; charset=utf-8,application/vnd.api+json;ext=bulk",
}
JSONAPI = "application/vnd.api+json"


def ref(type_: str, id_: str) -> dict[str, Any]:
    return {"data": {"type": type_, "id": id_}}


def sdk_post(api: ApiClient, path: str, body: dict[str, Any], headers: dict[str, Any]) -> Reply:
    reply = api.post(path, body, headers=headers)
    # JSON:API's own media type, with `; ext=bulk` on a bulk answer
    assert reply.headers["Content-Type"].startswith(JSONAPI), reply.headers
    return reply


@pytest.fixture(params=["test-client", "loopback-http"])
def sdk(request: pytest.FixtureRequest, app: Flask, api: ApiClient) -> Iterator[ApiClient]:
    """The account's client, through Flask's test client or over real HTTP on loopback."""
    if request.param == "test-client":
        yield api
        return
    with serve(app) as base_url:
        loopback = LoopbackClient(base_url)
        try:
            yield ApiClient(loopback, api.credentials)
        finally:
            loopback.close()


def test_the_walkthrough_as_the_sdk_sends_it(app: Flask, sdk: ApiClient) -> None:
    api = sdk
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    template = sdk_post(
        api,
        "/api/v1/text-templates",
        {
            "data": {
                "type": "text-templates",
                "attributes": {"name": "Weekly Specials", "body": "Hello {{first-name}}."},
            }
        },
        SDK_WRITE,
    )
    assert template.status == 201, template.document
    engagement = sdk_post(
        api,
        "/api/v1/engagements",
        {
            "data": {
                "type": "engagements",
                "attributes": {"name": "Weekly Specials", "direction": "outbound"},
            }
        },
        SDK_WRITE,
    )
    assert engagement.status == 201, engagement.document
    engagement_id, template_id = engagement.data["id"], template.data["id"]
    activity = sdk_post(
        api,
        "/api/v1/activities",
        {
            "data": {
                "type": "activities",
                "attributes": {"name": "Text Blast", "kind": "text"},
                "relationships": {
                    "engagement": ref("engagements", engagement_id),
                    "text-template": ref("text-templates", template_id),
                    "phone-number": ref("phone-numbers", phone_id),
                },
            },
            "included": [engagement.data, template.data],
        },
        SDK_WRITE,
    )
    assert activity.status == 201, activity.document
    envelopes = sdk_post(
        api,
        "/api/v1/envelopes",
        {
            "data": [
                {
                    "type": "envelopes",
                    "attributes": {"phone-number": number, "meta": {"first-name": name}},
                    "relationships": {"engagement": ref("engagements", engagement_id)},
                }
                for number, name in (("+15197566220", "Alexander"), ("+19734390088", "Michael"))
            ],
            "included": [engagement.data],
        },
        SDK_BULK,
    )
    assert envelopes.status == 201, envelopes.document
    assert len(envelopes.document["data"]) == 2
    scheduled = api.patch(
        f"/api/v1/engagements/{engagement_id}",
        {
            "data": {
                "id": engagement_id,
                "type": "engagements",
                "attributes": {
                    "name": "Weekly Specials",
                    "direction": "outbound",
                    "status": "scheduled",
                },
            }
        },
        headers=SDK_WRITE,
    )
    assert scheduled.status == 202, scheduled.document
    assert scheduled.headers["Content-Type"] == JSONAPI
    with app.app_context():
        assert db.session.query(Envelope).filter_by(engagement_id=engagement_id).count() == 2


def test_accept_application_json_is_answered_in_application_json(api: ApiClient) -> None:
    reply = api.get("/api/v1/engagements", headers={"Accept": "application/json"})

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"


def test_a_combined_content_type_with_a_foreign_entry_is_still_415(api: ApiClient) -> None:
    reply = api.post(
        "/api/v1/engagements",
        {"data": {"type": "engagements", "attributes": {"name": "x", "direction": "outbound"}}},
        headers={"Content-Type": "application/json; charset=utf-8,text/plain"},
    )

    assert_error(reply, 415, header="Content-Type")


def test_jsonapi_with_a_charset_is_still_415(api: ApiClient) -> None:
    reply = api.post(
        "/api/v1/engagements",
        {"data": {"type": "engagements", "attributes": {"name": "x", "direction": "outbound"}}},
        headers={"Content-Type": "application/vnd.api+json; charset=utf-8"},
    )

    assert_error(reply, 415, header="Content-Type")
