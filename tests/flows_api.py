"""Building flows through the API, as an application would: engagements, the three activity
kinds, triggers, scheduling and envelopes. Each helper asserts that its request succeeded."""

from __future__ import annotations

from typing import Any

from tests.client import ApiClient
from tests.factories import BULK, envelope, resource


def engagement(api: ApiClient, **attributes: Any) -> str:
    reply = api.post(
        "/api/v1/engagements",
        resource("engagements", {"name": "Flow", "direction": "outbound", **attributes}),
    )
    assert reply.status == 201, reply.document
    return str(reply.data["id"])


def text(api: ApiClient, engagement_id: str, name: str, body: str, phone_id: str) -> str:
    template = api.post(
        "/api/v1/text-templates", resource("text-templates", {"name": name, "body": body})
    )
    assert template.status == 201, template.document
    reply = api.post(
        "/api/v1/activities",
        resource(
            "activities",
            {"name": name, "kind": "text"},
            {
                "engagement": ("engagements", engagement_id),
                "text-template": ("text-templates", template.data["id"]),
                "phone-number": ("phone-numbers", phone_id),
            },
        ),
    )
    assert reply.status == 201, reply.document
    return str(reply.data["id"])


def activity(api: ApiClient, engagement_id: str, name: str, kind: str, **attributes: Any) -> str:
    """A web-call or split activity; attributes by their JSON:API names (`basic-auth=` is
    written `basic_auth=` here)."""
    reply = api.post(
        "/api/v1/activities",
        resource(
            "activities",
            {"name": name, "kind": kind, **{k.replace("_", "-"): v for k, v in attributes.items()}},
            {"engagement": ("engagements", engagement_id)},
        ),
    )
    assert reply.status == 201, reply.document
    return str(reply.data["id"])


def trigger(
    api: ApiClient,
    source: str,
    target: str,
    on_event: str,
    *,
    category: str | None = None,
    delay: int = 0,
) -> str:
    attributes: dict[str, Any] = {
        "kind": "activity",
        "on-event": on_event,
        "delay-in-seconds": delay,
    }
    if category is not None:
        attributes["category"] = category
    reply = api.post(
        "/api/v1/triggers",
        resource(
            "triggers",
            attributes,
            {"activity": ("activities", source), "next-activity": ("activities", target)},
        ),
    )
    assert reply.status == 201, reply.document
    return str(reply.data["id"])


def schedule(api: ApiClient, engagement_id: str) -> None:
    reply = set_status(api, engagement_id, "scheduled")
    assert reply.status == 202, reply.document


def set_status(api: ApiClient, engagement_id: str, status: str) -> Any:
    """PATCH the engagement's status; the reply."""
    return api.patch(
        f"/api/v1/engagements/{engagement_id}",
        resource("engagements", {"status": status}, id_=engagement_id),
    )


def add_envelopes(
    api: ApiClient, engagement_id: str, *recipients: tuple[str, dict[str, Any]]
) -> list[str]:
    reply = api.post(
        "/api/v1/envelopes",
        {"data": [envelope(engagement_id, number, meta) for number, meta in recipients]},
        headers=BULK,
    )
    assert reply.status == 201, reply.document
    return [str(item["id"]) for item in reply.data]


def run_of(api: ApiClient, envelope_id: str) -> dict[str, Any]:
    """The envelope's attributes: its run's status, exit type, values and path."""
    return dict(api.get(f"/api/v1/envelopes/{envelope_id}").data["attributes"])
