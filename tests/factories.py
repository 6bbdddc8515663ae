"""Builders for test data, as keyword functions. They go through the services where one exists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

from campaign.extensions import db
from campaign.models import Account, ApiToken

SEED_BODY = "Hello {{first-name}}, text templates support variables."
SEED_ENVELOPES = (
    ("+15197566220", {"first-name": "Alexander", "last-name": "Bell"}),
    ("+19734390088", {"first-name": "Michael", "last-name": "Morgan"}),
)


@dataclass(frozen=True)
class Credentials:
    account_id: str
    key: str
    token: str


def make_credentials(key: str, name: str) -> Credentials:
    """An account and one API token for it (inside an app context)."""
    account = Account(key=key, name=name)
    db.session.add(account)
    db.session.flush()
    token, secret = ApiToken.issue(account)
    db.session.add(token)
    db.session.commit()
    return Credentials(account.id, key, f"{token.id}:{secret}")


def allot(*, account_id: str, number: str = "+15195550100", max_throughput: int = 10_000) -> str:
    """The operator allots `number` (E.164) to the account, as `campaign phone-numbers allot`."""
    from campaign.models import NumberAllotment

    allotment = NumberAllotment(account_id=account_id, number=number, max_throughput=max_throughput)
    db.session.add(allotment)
    db.session.commit()
    return allotment.id


def make_phone_number(*, account_id: str, number: str = "+15195550100", throughput: int = 1) -> str:
    """A sender, and the allotment of its number that any sender needs."""
    from campaign.models import PhoneNumber

    allot(account_id=account_id, number=number, max_throughput=throughput)
    phone = PhoneNumber(account_id=account_id, number=number, throughput=throughput)
    db.session.add(phone)
    db.session.commit()
    return phone.id


def resource(
    type_: str,
    attributes: dict[str, Any] | None = None,
    relationships: dict[str, tuple[str, str]] | None = None,
    id_: str | None = None,
) -> dict[str, Any]:
    """A JSON:API document with one resource object."""
    data: dict[str, Any] = {"type": type_}
    if id_ is not None:
        data["id"] = id_
    if attributes is not None:
        data["attributes"] = attributes
    if relationships:
        data["relationships"] = {
            name: {"data": {"type": kind, "id": ident}}
            for name, (kind, ident) in relationships.items()
        }
    return {"data": data}


def envelope(engagement_id: str, number: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """One envelope resource object (for a bulk `data` array)."""
    return resource(
        "envelopes",
        {"phone-number": number, "meta": meta or {}},
        {"engagement": ("engagements", engagement_id)},
    )["data"]


BULK = {
    "Content-Type": "application/vnd.api+json; ext=bulk",
    "Accept": "application/vnd.api+json; ext=bulk",
}


@dataclass(frozen=True)
class SeedCampaign:
    template_id: str
    engagement_id: str
    activity_id: str
    phone_number_id: str
    envelope_ids: list[str]


def build_seed_campaign(
    api: Any,
    phone_number_id: str,
    *,
    body: str = SEED_BODY,
    envelopes: tuple[tuple[str, dict[str, Any]], ...] = SEED_ENVELOPES,
) -> SeedCampaign:
    """Requests 1-4 of the Omnigage walkthrough through `api`; each must succeed."""
    template = api.post(
        "/api/v1/text-templates",
        resource("text-templates", {"name": "Weekly Specials", "body": body}),
    )
    assert template.status == 201, template.document
    engagement = api.post(
        "/api/v1/engagements",
        resource("engagements", {"name": "Weekly Specials", "direction": "outbound"}),
    )
    assert engagement.status == 201, engagement.document
    activity = api.post(
        "/api/v1/activities",
        resource(
            "activities",
            {"name": "Text Blast", "kind": "text"},
            {
                "engagement": ("engagements", engagement.data["id"]),
                "text-template": ("text-templates", template.data["id"]),
                "phone-number": ("phone-numbers", phone_number_id),
            },
        ),
    )
    assert activity.status == 201, activity.document
    created = api.post(
        "/api/v1/envelopes",
        {"data": [envelope(engagement.data["id"], number, meta) for number, meta in envelopes]},
        headers=BULK,
    )
    assert created.status == 201, created.document
    return SeedCampaign(
        template.data["id"],
        engagement.data["id"],
        activity.data["id"],
        phone_number_id,
        [item["id"] for item in created.data],
    )


def seed_campaign(app: Flask, api: Any) -> SeedCampaign:
    """Requests 1-4 of the walkthrough, sending from a new phone number of `api`'s account."""
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    return build_seed_campaign(api, phone_id)


def schedule(api: Any, engagement_id: str, **attributes: Any) -> Any:
    """The walkthrough's request 5: PATCH the engagement to `scheduled` (with `attributes`,
    e.g. a delivery time); the reply, for the caller to check."""
    body = resource("engagements", {"status": "scheduled", **attributes}, id_=engagement_id)
    return api.patch(f"/api/v1/engagements/{engagement_id}", body)


def scheduled_seed_campaign(app: Flask, api: Any, *, throughput: int = 100) -> SeedCampaign:
    """Requests 1-5 of the walkthrough: the seed campaign from a new sender of `throughput`,
    PATCHed to `scheduled` (202); nothing is worked yet."""
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=throughput)
    seed = build_seed_campaign(api, phone_id)
    scheduled = schedule(api, seed.engagement_id)
    assert scheduled.status == 202, scheduled.document
    return seed
