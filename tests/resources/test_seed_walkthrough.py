"""The five requests of Omnigage's "Send Bulk Text" walkthrough, sent as the seed writes them."""

from __future__ import annotations

import json

from flask import Flask

from campaign.extensions import db
from campaign.models import Envelope
from tests.client import ApiClient
from tests.factories import make_phone_number


def test_seed_walkthrough_verbatim(app: Flask, api: ApiClient) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    # Requests 1-3 and 5 carry no Content-Type in the walkthrough; 4 uses ext=bulk.
    plain = {"Content-Type": None}

    template = api.post(
        "/api/v1/text-templates",
        raw='{ "data": { "type": "text-templates", '
        '"attributes": { "name": "Weekly Specials", "body": "Hello {{first-name}}, '
        'text templates support variables." } } }',
        headers=plain,
    )
    assert template.status == 201
    assert template.headers["Location"] == f"/api/v1/text-templates/{template.data['id']}"
    assert len(template.data["id"]) == 22
    assert template.data["attributes"]["variables"] == ["first-name"]

    engagement = api.post(
        "/api/v1/engagements",
        raw='{ "data": { "type": "engagements", '
        '"attributes": { "name": "Weekly Specials", "direction": "outbound" } } }',
        headers=plain,
    )
    assert engagement.status == 201
    engagement_id = engagement.data["id"]
    assert engagement.data["attributes"]["status"] == "pending"
    assert engagement.data["attributes"]["count-total"] is None

    activity = api.post(
        "/api/v1/activities",
        raw=json.dumps(
            {
                "data": {
                    "type": "activities",
                    "attributes": {"name": "Text Blast", "kind": "text"},
                    "relationships": {
                        "engagement": {"data": {"type": "engagements", "id": engagement_id}},
                        "text-template": {
                            "data": {"type": "text-templates", "id": template.data["id"]}
                        },
                        "phone-number": {"data": {"type": "phone-numbers", "id": phone_id}},
                    },
                }
            }
        ),
        headers=plain,
    )
    assert activity.status == 201
    assert activity.data["relationships"]["phone-number"]["data"]["id"] == phone_id

    envelopes = api.post(
        "/api/v1/envelopes",
        raw=json.dumps(
            {
                "data": [
                    {
                        "type": "envelopes",
                        "attributes": {
                            "phone-number": "+15197566220",
                            "meta": {"first-name": "Alexander", "last-name": "Bell"},
                        },
                        "relationships": {
                            "engagement": {"data": {"type": "engagements", "id": engagement_id}}
                        },
                    },
                    {
                        "type": "envelopes",
                        "attributes": {
                            "phone-number": "+19734390088",
                            "meta": {"first-name": "Michael", "last-name": "Morgan"},
                        },
                        "relationships": {
                            "engagement": {"data": {"type": "engagements", "id": engagement_id}}
                        },
                    },
                ]
            }
        ),
        headers={
            "Content-Type": "application/vnd.api+json; ext=bulk",
            "Accept": "application/vnd.api+json; ext=bulk",
        },
    )
    assert envelopes.status == 201
    assert [item["attributes"]["phone-number"] for item in envelopes.data] == [
        "+15197566220",
        "+19734390088",
    ]
    assert {item["relationships"]["activity"]["data"]["id"] for item in envelopes.data} == {
        activity.data["id"]
    }

    scheduled = api.patch(
        f"/api/v1/engagements/{engagement_id}",
        raw=json.dumps(
            {
                "data": {
                    "id": engagement_id,
                    "type": "engagements",
                    "attributes": {"status": "scheduled", "delivery-type": "immediately"},
                }
            }
        ),
        headers=plain,
    )
    assert scheduled.status == 202
    assert scheduled.data["attributes"]["status"] == "scheduled"
    assert scheduled.data["attributes"]["count-total"] == 2

    # Everything created reads back.
    read = api.get(f"/api/v1/engagements/{engagement_id}?include=activity,phone-numbers")
    assert read.data["relationships"]["activity"]["data"]["id"] == activity.data["id"]
    assert {(item["type"], item["id"]) for item in read.document["included"]} == {
        ("activities", activity.data["id"]),
        ("phone-numbers", phone_id),
    }
    listed = api.get(f"/api/v1/envelopes?filter[engagement]={engagement_id}")
    assert sorted(item["attributes"]["meta"]["first-name"] for item in listed.data) == [
        "Alexander",
        "Michael",
    ]
    assert (
        api.get(f"/api/v1/text-templates/{template.data['id']}").data["attributes"]["body"]
        == "Hello {{first-name}}, text templates support variables."
    )
    with app.app_context():
        assert db.session.query(Envelope).filter_by(engagement_id=engagement_id).count() == 2
