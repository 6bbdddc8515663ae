"""Rendering at send time: segments stored, over-long texts failed, unsafe templates refused."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.client import ApiClient
from tests.factories import build_seed_campaign, make_phone_number, resource, schedule
from tests.jobs import drain
from tests.servers import configured

SSTI_PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ config }}",
    "{{ self.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__ }}",
    "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
    "{{ 9**9**9 }}",
    "{{ 'a' * 10000000 }}",
    "{% include '/etc/passwd' %}",
    "{{ request.application.__globals__ }}",
]


@pytest.mark.parametrize("body", SSTI_PAYLOADS)
def test_template_injection_payloads_are_refused_at_creation(api: ApiClient, body: str) -> None:
    reply = api.post(
        "/api/v1/text-templates", resource("text-templates", {"name": "probe", "body": body})
    )
    assert reply.status == 400
    assert reply.pointers() == ["/data/attributes/body"]
    assert api.get("/api/v1/text-templates").data == []


@pytest.fixture
def phone_id(app: Flask, api: ApiClient) -> str:
    with app.app_context():
        return make_phone_number(account_id=api.credentials.account_id, throughput=100)


def _send(
    app: Flask, api: ApiClient, phone_id: str, body: str, meta: dict[str, object]
) -> dict[str, object]:
    seed = build_seed_campaign(api, phone_id, body=body, envelopes=(("+15197566220", meta),))
    assert schedule(api, seed.engagement_id).status == 202
    drain(app)
    return api.get(f"/api/v1/texts?filter[engagement]={seed.engagement_id}").data[0]["attributes"]


def test_segments_are_counted_per_encoding(app: Flask, api: ApiClient, phone_id: str) -> None:
    text = _send(
        app,
        api,
        phone_id,
        "{{ greeting }} {{first-name}} 👋",
        {"greeting": "x" * 60, "first-name": "Zoë"},
    )
    assert (text["status"], text["segments"]) == ("sent", 1)
    long_text = _send(app, api, phone_id, "{{ greeting }}", {"greeting": "Ж" * 71})
    assert (long_text["status"], long_text["segments"]) == ("sent", 2)


def test_a_text_over_the_segment_cap_fails_with_a_reason(
    app: Flask, api: ApiClient, phone_id: str
) -> None:
    with configured(app, MAX_SEGMENTS=1):
        text = _send(app, api, phone_id, "Hello {{first-name}}", {"first-name": "x" * 200})
    assert (text["status"], text["error-code"], text["segments"]) == (
        "failed",
        "too-many-segments",
        2,
    )
    assert "limit is 1" in text["error-detail"]


def test_optional_variables_render_their_default(app: Flask, api: ApiClient, phone_id: str) -> None:
    text = _send(
        app,
        api,
        phone_id,
        "Hi {{ first-name | default('there') }}{% if city %} in {{ city }}{% endif %}!",
        {"city": "Waterloo"},
    )
    assert text["body"] == "Hi there in Waterloo!"
