"""Tenant isolation: account B's token on account A's ids, for every verb, list, filter and
include. Another account's object is a 404 (exactly like one that does not exist), never listed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from sqlalchemy import func, select

from campaign.extensions import db
from campaign.models import Activity, Envelope, Text
from campaign.workers.queues import DISPATCH_QUEUE, get_queue
from tests.assertions import assert_error
from tests.client import ApiClient
from tests.factories import (
    BULK,
    SeedCampaign,
    build_seed_campaign,
    envelope,
    make_phone_number,
    resource,
    schedule,
)

API = "/api/v1"
# Well-formed, but no row has it: what a 404 for "not yours" must be indistinguishable from.
UNKNOWN_ID = "yrbCdxqV2ZMdQBCszhA7TZ"
A_NUMBER, B_NUMBER = "+15195550100", "+15195550199"
B_ENVELOPES = (("+15195550142", {"first-name": "Beatrice"}),)


@dataclass(frozen=True)
class Tenant:
    """One account's seed campaign, a text row, and a spare engagement without an activity."""

    campaign: SeedCampaign
    text_id: str
    spare_engagement_id: str

    def ids(self) -> dict[str, str]:
        return {
            "text-templates": self.campaign.template_id,
            "engagements": self.campaign.engagement_id,
            "activities": self.campaign.activity_id,
            "phone-numbers": self.campaign.phone_number_id,
            "envelopes": self.campaign.envelope_ids[0],
            "texts": self.text_id,
        }

    def every_id(self) -> set[str]:
        return {*self.ids().values(), *self.campaign.envelope_ids, self.spare_engagement_id}


def insert_text(app: Flask, account_id: str, campaign: SeedCampaign, to: str, from_: str) -> str:
    """A text row as the dispatcher would write it (the API has no way to create one)."""
    with app.app_context():
        text = Text(
            account_id=account_id,
            engagement_id=campaign.engagement_id,
            envelope_id=campaign.envelope_ids[0],
            activity_id=campaign.activity_id,
            to=to,
            from_=from_,
            body="Hello Alexander, text templates support variables.",
            segments=1,
        )
        db.session.add(text)
        db.session.commit()
        return text.id


def build_tenant(
    app: Flask,
    api: ApiClient,
    number: str,
    envelopes: tuple[tuple[str, dict[str, Any]], ...] | None = None,
) -> Tenant:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, number=number)
    campaign = (
        build_seed_campaign(api, phone_id)
        if envelopes is None
        else build_seed_campaign(api, phone_id, envelopes=envelopes)
    )
    spare = api.post(f"{API}/engagements", resource("engagements", {"name": "Spare"}))
    assert spare.status == 201, spare.document
    to = envelopes[0][0] if envelopes else "+15197566220"
    text_id = insert_text(app, api.credentials.account_id, campaign, to, number)
    return Tenant(campaign, text_id, spare.data["id"])


@pytest.fixture
def tenant_a(app: Flask, api: ApiClient) -> Tenant:
    return build_tenant(app, api, A_NUMBER)


@pytest.fixture
def tenant_b(app: Flask, other_api: ApiClient) -> Tenant:
    # Other numbers than A's, so a filter on A's values must not match B's own rows either.
    return build_tenant(app, other_api, B_NUMBER, B_ENVELOPES)


def normalised(document: Any, id_: str) -> str:
    """The document with `id_` written as UNKNOWN_ID, to compare two 404s."""
    return json.dumps(document, sort_keys=True).replace(id_, UNKNOWN_ID)


def listed_ids(reply: Any) -> list[str]:
    assert reply.status == 200, reply.document
    return [item["id"] for item in reply.data]


WRITABLE = ["text-templates", "engagements", "activities", "phone-numbers", "envelopes"]
# A PATCH that A itself could make, so only ownership stands between B and the change.
PATCHES: dict[str, dict[str, Any]] = {
    "text-templates": {"name": "Hijacked", "body": "Send money to {{first-name}}"},
    "engagements": {"name": "Hijacked"},
    "activities": {"name": "Hijacked"},
    "phone-numbers": {"name": "Hijacked", "throughput": 50},
    "envelopes": {"meta": {"first-name": "Mallory"}},
}


def send(client: ApiClient, verb: str, type_: str, id_: str) -> Any:
    path = f"{API}/{type_}/{id_}"
    if verb == "PATCH":
        return client.patch(path, resource(type_, PATCHES[type_], id_=id_))
    return client.request(verb, path)


def verb_cases() -> list[Any]:
    cases: list[Any] = [("GET", type_) for type_ in [*WRITABLE, "texts"]]
    for verb in ("PATCH", "DELETE"):
        for type_ in WRITABLE:
            cases.append(pytest.param(verb, type_))
    return cases


@pytest.mark.parametrize(("verb", "type_"), verb_cases())
def test_other_accounts_object_is_not_found_for_every_verb_and_stays_unchanged(
    api: ApiClient, other_api: ApiClient, tenant_a: Tenant, verb: str, type_: str
) -> None:
    id_ = tenant_a.ids()[type_]
    before = api.get(f"{API}/{type_}/{id_}")
    assert before.status == 200

    reply = send(other_api, verb, type_, id_)
    missing = send(other_api, verb, type_, UNKNOWN_ID)

    # Engagements have no DELETE (they are cancelled through their status): a 405 is fine as
    # long as it is the same answer an unknown id gets.
    assert reply.status == 404 or (verb, type_) == ("DELETE", "engagements"), reply.document
    assert reply.status == missing.status
    assert normalised(reply.document, id_) == normalised(missing.document, UNKNOWN_ID)
    after = api.get(f"{API}/{type_}/{id_}")
    assert after.status == 200
    assert after.data == before.data


@pytest.mark.parametrize(
    ("type_", "include"),
    [
        ("engagements", "activity,phone-numbers"),
        ("activities", "engagement,text-template,phone-number"),
        ("envelopes", "engagement,activity"),
        ("texts", "envelope,engagement"),
    ],
)
def test_other_accounts_object_is_not_found_with_include(
    other_api: ApiClient, tenant_a: Tenant, type_: str, include: str
) -> None:
    reply = other_api.get(f"{API}/{type_}/{tenant_a.ids()[type_]}?include={include}")

    assert reply.status == 404, reply.document
    assert "included" not in reply.document


@pytest.mark.parametrize("type_", [*WRITABLE, "texts"])
def test_other_accounts_rows_are_never_listed(
    api: ApiClient, other_api: ApiClient, tenant_a: Tenant, type_: str
) -> None:
    assert tenant_a.ids()[type_] in listed_ids(api.get(f"{API}/{type_}"))

    assert listed_ids(other_api.get(f"{API}/{type_}")) == []


def a_value(tenant: Tenant, name: str) -> str:
    campaign = tenant.campaign
    return {
        "engagement": campaign.engagement_id,
        "activity": campaign.activity_id,
        "text-template": campaign.template_id,
        "phone-number-id": campaign.phone_number_id,
        "envelope": campaign.envelope_ids[0],
        "envelope-number": "+15197566220",
        "number": A_NUMBER,
    }[name]


# (list, filter, which of A's values): every filter the lists offer on A's ids and values.
FILTERS = [
    ("envelopes", "engagement", "engagement"),
    ("envelopes", "activity", "activity"),
    ("envelopes", "phone-number", "envelope-number"),
    ("activities", "engagement", "engagement"),
    ("activities", "text-template", "text-template"),
    ("activities", "phone-number", "phone-number-id"),
    ("texts", "engagement", "engagement"),
    ("texts", "envelope", "envelope"),
    ("phone-numbers", "number", "number"),
]


@pytest.mark.parametrize(("type_", "filter_", "value"), FILTERS)
def test_filter_on_other_accounts_ids_is_empty(
    api: ApiClient,
    other_api: ApiClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    type_: str,
    filter_: str,
    value: str,
) -> None:
    # Quoted: a bare `+` in a query string is a space.
    path = f"{API}/{type_}?filter[{filter_}]={quote(a_value(tenant_a, value), safe='')}"
    # The same query finds A's rows for A, so an empty answer for B is the scoping at work.
    assert listed_ids(api.get(path))

    assert listed_ids(other_api.get(path)) == []


@pytest.mark.parametrize(
    ("type_", "status"),
    [("engagements", "pending"), ("envelopes", "pending"), ("texts", "queued")],
)
def test_status_filter_lists_only_own_rows(
    api: ApiClient,
    other_api: ApiClient,
    tenant_a: Tenant,
    tenant_b: Tenant,
    type_: str,
    status: str,
) -> None:
    path = f"{API}/{type_}?filter[status]={status}"
    assert set(listed_ids(api.get(path))) <= tenant_a.every_id()

    seen = listed_ids(other_api.get(path))

    assert seen
    assert set(seen) <= tenant_b.every_id()


def b_own_links(app: Flask, other_api: ApiClient) -> dict[str, tuple[str, str]]:
    """A pending engagement without activity, a template and a sender, all B's."""
    with app.app_context():
        phone_id = make_phone_number(account_id=other_api.credentials.account_id, number=B_NUMBER)
    template = other_api.post(
        f"{API}/text-templates", resource("text-templates", {"name": "B", "body": "Hi"})
    )
    engagement = other_api.post(f"{API}/engagements", resource("engagements", {"name": "B"}))
    assert template.status == engagement.status == 201
    return {
        "engagement": ("engagements", engagement.data["id"]),
        "text-template": ("text-templates", template.data["id"]),
        "phone-number": ("phone-numbers", phone_id),
    }


def activity_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Activity)) or 0


@pytest.mark.parametrize(
    "foreign",
    [
        ("engagement",),
        ("text-template",),
        ("phone-number",),
        ("engagement", "text-template", "phone-number"),
    ],
    ids=["engagement", "text-template", "phone-number", "all-three"],
)
def test_activity_cannot_link_other_accounts_rows(
    app: Flask,
    api: ApiClient,
    other_api: ApiClient,
    tenant_a: Tenant,
    foreign: tuple[str, ...],
) -> None:
    links = b_own_links(app, other_api)
    a_rows = {
        # A's spare engagement has no activity, so only ownership can refuse it.
        "engagement": ("engagements", tenant_a.spare_engagement_id),
        "text-template": ("text-templates", tenant_a.campaign.template_id),
        "phone-number": ("phone-numbers", tenant_a.campaign.phone_number_id),
    }
    links.update({name: a_rows[name] for name in foreign})
    before = activity_count(app)

    reply = other_api.post(
        f"{API}/activities", resource("activities", {"name": "Stolen", "kind": "text"}, links)
    )

    assert reply.status == 404, reply.document
    assert sorted(reply.pointers()) == sorted(
        f"/data/relationships/{name}/data" for name in foreign
    )
    assert activity_count(app) == before
    spare = api.get(f"{API}/engagements/{tenant_a.spare_engagement_id}")
    assert spare.data["relationships"]["activity"]["data"] is None


@pytest.mark.parametrize(
    ("relationship", "type_"),
    [("text-template", "text-templates"), ("phone-number", "phone-numbers")],
)
def test_own_activity_cannot_be_relinked_to_other_accounts_rows(
    other_api: ApiClient, tenant_a: Tenant, tenant_b: Tenant, relationship: str, type_: str
) -> None:
    activity_id = tenant_b.campaign.activity_id
    before = other_api.get(f"{API}/activities/{activity_id}")
    a_id = tenant_a.ids()[type_]

    reply = other_api.patch(
        f"{API}/activities/{activity_id}",
        resource("activities", relationships={relationship: (type_, a_id)}, id_=activity_id),
    )

    assert reply.status == 404, reply.document
    assert reply.pointers() == [f"/data/relationships/{relationship}/data"]
    assert other_api.get(f"{API}/activities/{activity_id}").data == before.data


def envelope_numbers(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        return sorted(db.session.execute(select(Envelope.account_id, Envelope.phone_number)))


@pytest.mark.parametrize("shape", ["bulk", "bulk-mixed", "single"])
def test_envelopes_cannot_be_added_to_other_accounts_engagement(
    app: Flask, other_api: ApiClient, tenant_a: Tenant, tenant_b: Tenant, shape: str
) -> None:
    a_engagement = tenant_a.campaign.engagement_id
    # A number A's engagement does not have yet, so only ownership can refuse it.
    stolen = envelope(a_engagement, "+15195550177", {"first-name": "Mallory"})
    if shape == "single":
        body, headers, pointer = {"data": stolen}, None, "/data/relationships/engagement/data"
    elif shape == "bulk":
        body, headers, pointer = {"data": [stolen]}, BULK, "/data/0/relationships/engagement/data"
    else:
        # B's own valid entry first: all or nothing means it is not stored either.
        own = envelope(tenant_b.spare_engagement_id, "+15195550178")
        body, headers, pointer = (
            {"data": [own, stolen]},
            BULK,
            "/data/1/relationships/engagement/data",
        )
    before = envelope_numbers(app)

    reply = other_api.post(f"{API}/envelopes", body, headers=headers)

    assert reply.status == 404, reply.document
    assert reply.pointers() == [pointer]
    assert envelope_numbers(app) == before


def test_scheduling_other_accounts_engagement_is_not_found_and_nothing_dispatches(
    app: Flask, api: ApiClient, other_api: ApiClient, tenant_a: Tenant
) -> None:
    engagement_id = tenant_a.campaign.engagement_id
    reply = schedule(other_api, engagement_id, **{"delivery-type": "immediately"})

    assert reply.status == 404, reply.document
    attributes = api.get(f"{API}/engagements/{engagement_id}").data["attributes"]
    assert attributes["status"] == "pending"
    assert attributes["count-total"] is None
    with app.app_context():
        queue = get_queue(DISPATCH_QUEUE)
        assert queue.count == 0
        assert queue.scheduled_job_registry.count == 0
    # The same request is one A may make: ownership was the only reason for the 404.
    assert schedule(api, engagement_id, **{"delivery-type": "immediately"}).status == 202


@pytest.mark.parametrize(
    "path",
    [
        "engagements/{engagement}?include=activity,phone-numbers",
        "engagements?include=activity,phone-numbers",
        "activities/{activity}?include=engagement,text-template,phone-number",
        "activities?include=engagement,text-template,phone-number",
        "envelopes/{envelope}?include=engagement,activity",
        "envelopes?include=engagement,activity",
        "texts/{text}?include=envelope,engagement",
        "texts?include=envelope,engagement",
    ],
)
def test_include_on_own_rows_never_shows_other_accounts_rows(
    other_api: ApiClient, tenant_a: Tenant, tenant_b: Tenant, path: str
) -> None:
    ids = tenant_b.ids()
    url = f"{API}/" + path.format(
        engagement=ids["engagements"],
        activity=ids["activities"],
        envelope=ids["envelopes"],
        text=ids["texts"],
    )

    reply = other_api.get(url)

    assert reply.status == 200, reply.document
    included = {item["id"] for item in reply.document.get("included", [])}
    assert included, "the include should bring B's related rows"
    assert included <= tenant_b.every_id()
    assert not included & tenant_a.every_id()


def test_text_row_is_visible_to_its_account_only(
    api: ApiClient, other_api: ApiClient, tenant_a: Tenant
) -> None:
    engagement_id, text_id = tenant_a.campaign.engagement_id, tenant_a.text_id

    own_list = api.get(f"{API}/texts?filter[engagement]={engagement_id}")
    own = api.get(f"{API}/texts/{text_id}")

    assert listed_ids(own_list) == [text_id]
    assert own.status == 200
    assert own.data["attributes"]["to"] == "+15197566220"
    assert own.data["attributes"]["from"] == A_NUMBER
    assert own.data["relationships"]["engagement"]["data"]["id"] == engagement_id
    assert own.data["relationships"]["envelope"]["data"]["id"] == tenant_a.campaign.envelope_ids[0]
    assert listed_ids(other_api.get(f"{API}/texts?filter[engagement]={engagement_id}")) == []
    assert other_api.get(f"{API}/texts/{text_id}").status == 404


@pytest.mark.parametrize(
    ("path", "status"),
    [("engagements/abc%00def", 404), ("envelopes?filter[engagement]=abc%00def", 400)],
)
def test_id_with_nul_byte_is_refused(
    other_api: ApiClient, tenant_a: Tenant, path: str, status: int
) -> None:
    reply = other_api.get(f"{API}/{path}")

    assert_error(reply, status)
