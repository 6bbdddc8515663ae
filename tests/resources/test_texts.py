"""`texts` is read-only: writes are 405, and rows (inserted here as the dispatcher would) are
listed, filtered by status and engagement, and include their envelope and engagement."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask

from campaign.extensions import db
from campaign.models import Text
from tests.client import ApiClient
from tests.factories import SeedCampaign, build_seed_campaign, make_phone_number, resource

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
URL = "/api/v1/texts"
SENT_AT = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def insert_texts(
    app: Flask, account_id: str, campaign: SeedCampaign, statuses: tuple[str, ...]
) -> list[str]:
    """One text per envelope of `campaign`, with the given statuses; their ids in order."""
    with app.app_context():
        rows = [
            Text(
                account_id=account_id,
                engagement_id=campaign.engagement_id,
                envelope_id=envelope_id,
                activity_id=campaign.activity_id,
                to=f"+1519555{index:04d}",
                from_="+15195550100",
                body=f"Hello {index}",
                status=status,
                segments=1,
                sent_at=SENT_AT if status != "queued" else None,
            )
            for index, (envelope_id, status) in enumerate(
                zip(campaign.envelope_ids, statuses, strict=True)
            )
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


@pytest.fixture
def campaigns(app: Flask, api: ApiClient) -> tuple[SeedCampaign, SeedCampaign]:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    return build_seed_campaign(api, phone_id), build_seed_campaign(api, phone_id)


def test_writes_are_not_allowed(
    app: Flask, api: ApiClient, campaigns: tuple[SeedCampaign, SeedCampaign]
) -> None:
    [text_id, _] = insert_texts(app, api.credentials.account_id, campaigns[0], ("sent", "queued"))
    created = api.post(URL, resource("texts", {"to": "+15195550100", "body": "hi"}))
    assert created.status == 405
    assert "POST" not in created.headers["Allow"]
    assert (
        api.patch(f"{URL}/{text_id}", resource("texts", {"body": "changed"}, id_=text_id)).status
        == 405
    )
    assert api.delete(f"{URL}/{text_id}").status == 405
    assert api.get(f"{URL}/{text_id}").data["attributes"]["body"] == "Hello 0"
    assert len(api.get(URL).data) == 2


def test_read_renders_every_attribute(
    app: Flask, api: ApiClient, campaigns: tuple[SeedCampaign, SeedCampaign]
) -> None:
    campaign = campaigns[0]
    [text_id, _] = insert_texts(app, api.credentials.account_id, campaign, ("sent", "queued"))
    read = api.get(f"{URL}/{text_id}")
    assert read.status == 200
    data = read.data
    assert data["links"]["self"] == f"{URL}/{text_id}"
    attributes = data["attributes"]
    assert attributes["to"] == "+15195550000"
    assert attributes["from"] == "+15195550100"
    assert attributes["body"] == "Hello 0"
    assert attributes["status"] == "sent"
    assert attributes["segments"] == 1
    assert attributes["sent-at"] == "2024-05-06T07:08:09.123456Z"
    assert attributes["delivered-at"] is None
    assert attributes["error-code"] is None
    assert TIMESTAMP.match(attributes["created-at"])
    assert data["relationships"]["envelope"]["data"] == {
        "type": "envelopes",
        "id": campaign.envelope_ids[0],
    }
    assert data["relationships"]["engagement"]["data"] == {
        "type": "engagements",
        "id": campaign.engagement_id,
    }


def test_list_filters_on_status(
    app: Flask, api: ApiClient, campaigns: tuple[SeedCampaign, SeedCampaign]
) -> None:
    account_id = api.credentials.account_id
    first = insert_texts(app, account_id, campaigns[0], ("sent", "failed"))
    second = insert_texts(app, account_id, campaigns[1], ("sent", "queued"))
    sent = api.get(f"{URL}?filter[status]=sent")
    assert sent.status == 200
    assert {item["id"] for item in sent.data} == {first[0], second[0]}
    assert {item["attributes"]["status"] for item in sent.data} == {"sent"}
    assert [item["id"] for item in api.get(f"{URL}?filter[status]=failed").data] == [first[1]]
    assert api.get(f"{URL}?filter[status]=delivered").data == []


def test_list_filters_on_engagement(
    app: Flask, api: ApiClient, campaigns: tuple[SeedCampaign, SeedCampaign]
) -> None:
    account_id = api.credentials.account_id
    first = insert_texts(app, account_id, campaigns[0], ("sent", "failed"))
    second = insert_texts(app, account_id, campaigns[1], ("sent", "queued"))
    for campaign, ids in ((campaigns[0], first), (campaigns[1], second)):
        listed = api.get(f"{URL}?filter[engagement]={campaign.engagement_id}")
        assert {item["id"] for item in listed.data} == set(ids)
    both = api.get(f"{URL}?filter[engagement]={campaigns[1].engagement_id}&filter[status]=queued")
    assert [item["id"] for item in both.data] == [second[1]]


def test_list_includes_envelope_and_engagement_once_each(
    app: Flask, api: ApiClient, campaigns: tuple[SeedCampaign, SeedCampaign]
) -> None:
    campaign = campaigns[0]
    insert_texts(app, api.credentials.account_id, campaign, ("sent", "failed"))
    listed = api.get(
        f"{URL}?filter[engagement]={campaign.engagement_id}&include=envelope,engagement"
    )
    assert listed.status == 200
    included = [(item["type"], item["id"]) for item in listed.document["included"]]
    assert sorted(included) == sorted(
        [("engagements", campaign.engagement_id)]
        + [("envelopes", envelope_id) for envelope_id in campaign.envelope_ids]
    )
    by_envelope = {item["relationships"]["envelope"]["data"]["id"]: item for item in listed.data}
    assert set(by_envelope) == set(campaign.envelope_ids)
    envelope = next(item for item in listed.document["included"] if item["type"] == "envelopes")
    assert envelope["attributes"]["phone-number"] in ("+15197566220", "+19734390088")


def test_include_of_an_unknown_relationship_is_rejected(api: ApiClient) -> None:
    reply = api.get(f"{URL}?include=activity")
    assert reply.status == 400
    assert reply.errors[0]["source"] == {"parameter": "include"}


def test_read_includes_envelope_and_engagement(
    app: Flask, api: ApiClient, campaigns: tuple[SeedCampaign, SeedCampaign]
) -> None:
    campaign = campaigns[0]
    [text_id, _] = insert_texts(app, api.credentials.account_id, campaign, ("sent", "queued"))
    read = api.get(f"{URL}/{text_id}?include=envelope,engagement")
    assert read.status == 200, read.document
    assert sorted((item["type"], item["id"]) for item in read.document["included"]) == [
        ("engagements", campaign.engagement_id),
        ("envelopes", campaign.envelope_ids[0]),
    ]
