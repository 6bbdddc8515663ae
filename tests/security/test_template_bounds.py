"""A whitelisted filter or operator that computes ``10**N`` or a huge int: refused at create,
and a text whose meta drives it fails with template-error instead of holding the worker."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.client import ApiClient
from tests.factories import build_seed_campaign, make_phone_number, resource, schedule
from tests.jobs import drain

# Before the bounds the first took about a second of CPU in the web process; the review's
# round(-999999999) hung a gunicorn worker past its 30 s timeout.
HOSTILE_BODIES = [
    "{{ 1|round(-2000000) }}",
    "{{ n|round(-2000000) }}",
    "{{ 1.5|round(2000000, 'ceil') }}",
    "{{ 1|round(-999999999) }}",
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_unbounded_filter_argument_is_refused_at_create(api: ApiClient, body: str) -> None:
    reply = api.post(
        "/api/v1/text-templates", resource("text-templates", {"name": "probe", "body": body})
    )
    assert reply.status == 400
    assert reply.pointers() == ["/data/attributes/body"]
    assert "filter 'round': precision" in reply.errors[0]["detail"]
    assert api.get("/api/v1/text-templates").data == []


@pytest.fixture
def phone_id(app: Flask, api: ApiClient) -> str:
    with app.app_context():
        return make_phone_number(account_id=api.credentials.account_id, throughput=100)


@pytest.mark.parametrize(
    ("body", "meta"),
    [
        ("{{ n|round(p) }}", {"n": 1, "p": -2000000}),
        # Text, since SQLite's JSON keeps no integer past 64 bits.
        ("{{ (x|int) * (x|int) * (x|int) % 7 }}", {"x": str(2**1000)}),
    ],
)
def test_meta_driven_blow_up_fails_the_text(
    app: Flask, api: ApiClient, phone_id: str, body: str, meta: dict[str, object]
) -> None:
    seed = build_seed_campaign(api, phone_id, body=body, envelopes=(("+15197566220", meta),))
    reply = schedule(api, seed.engagement_id)
    assert reply.status == 202
    drain(app)
    texts = api.get(f"/api/v1/texts?filter[engagement]={seed.engagement_id}").data
    assert [(t["attributes"]["status"], t["attributes"]["error-code"]) for t in texts] == [
        ("failed", "template-error")
    ]
