"""campaign/jsonapi.py: media-type negotiation (415, 406, the extensions a Content-Type names) and
the response documents, routing's errors (404, 405) among them: every answer is
`application/vnd.api+json`, and a refused request changes nothing."""

from __future__ import annotations

import pytest
from flask import Flask, Request

from campaign.errors import UnsupportedMediaType
from campaign.jsonapi import request_extensions
from tests.assertions import assert_error, unchanged
from tests.client import ApiClient
from tests.factories import BULK, envelope, make_phone_number, resource

JSONAPI = "application/vnd.api+json"
ENGAGEMENT = resource("engagements", {"name": "Weekly Specials", "direction": "outbound"})


@pytest.fixture
def engagement_id(api: ApiClient) -> str:
    reply = api.post("/api/v1/engagements", ENGAGEMENT)
    assert reply.status == 201
    return reply.data["id"]


# --- Content-Type ---

REFUSED_CONTENT_TYPES = [
    "text/plain",
    "text/plain; charset=utf-8",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/vnd.api+json; charset=utf-8",
    "application/vnd.api+json; version=1.1",
    "application/vnd.api+json; ext=bulk; charset=utf-8",
    "application/vnd.api+json+xml",
]


@pytest.mark.parametrize("content_type", REFUSED_CONTENT_TYPES)
def test_unsupported_content_type_on_create_is_415(
    app: Flask, api: ApiClient, content_type: str
) -> None:
    with unchanged(app):
        reply = api.post("/api/v1/engagements", ENGAGEMENT, headers={"Content-Type": content_type})
    assert_error(reply, 415, header="Content-Type")
    assert reply.headers["Content-Type"] == JSONAPI


@pytest.mark.parametrize("content_type", REFUSED_CONTENT_TYPES)
def test_unsupported_content_type_on_update_is_415(
    app: Flask, api: ApiClient, engagement_id: str, content_type: str
) -> None:
    body = resource("engagements", {"name": "Renamed"}, id_=engagement_id)
    with unchanged(app):
        reply = api.patch(
            f"/api/v1/engagements/{engagement_id}", body, headers={"Content-Type": content_type}
        )
    assert_error(reply, 415, header="Content-Type")


def test_415_detail_names_the_offending_parameter(api: ApiClient) -> None:
    reply = api.post(
        "/api/v1/engagements",
        ENGAGEMENT,
        headers={"Content-Type": "application/vnd.api+json; charset=utf-8"},
    )
    assert_error(reply, 415, header="Content-Type", detail="'charset'")


ACCEPTED_CONTENT_TYPES = [
    JSONAPI,
    "application/vnd.api+json; ext=bulk",
    'application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"',
    'application/vnd.api+json; profile="https://example.com/profiles/timestamps"',
    'application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"; '
    'profile="https://example.com/a https://example.com/b"',
    "Application/Vnd.Api+JSON",
    "application/json",
    "application/json; charset=utf-8",
    None,  # the seed's requests 1-3 and 5 send no Content-Type at all
]


@pytest.mark.parametrize("content_type", ACCEPTED_CONTENT_TYPES)
def test_jsonapi_and_lenient_content_types_are_accepted(
    api: ApiClient, content_type: str | None
) -> None:
    reply = api.post("/api/v1/engagements", ENGAGEMENT, headers={"Content-Type": content_type})
    assert reply.status == 201, reply.document
    assert reply.headers["Content-Type"] == JSONAPI
    assert api.get(reply.headers["Location"]).data["attributes"]["name"] == "Weekly Specials"


@pytest.mark.parametrize("content_type", ACCEPTED_CONTENT_TYPES)
def test_accepted_content_types_work_for_update(
    api: ApiClient, engagement_id: str, content_type: str | None
) -> None:
    body = resource("engagements", {"name": "Renamed"}, id_=engagement_id)
    reply = api.patch(
        f"/api/v1/engagements/{engagement_id}", body, headers={"Content-Type": content_type}
    )
    assert reply.status == 200, reply.document
    assert reply.data["attributes"]["name"] == "Renamed"


@pytest.mark.parametrize(
    ("content_type", "extensions"),
    [
        (None, set()),
        ("", set()),
        ("application/json; charset=utf-8", set()),
        (JSONAPI, set()),
        ("application/vnd.api+json; ext=bulk", {"bulk"}),
        (
            'application/vnd.api+json; ext="https://jsonapi.org/ext/atomic bulk"',
            {
                "https://jsonapi.org/ext/atomic",
                "bulk",
            },
        ),
        ('application/vnd.api+json; profile="https://example.com/p"', set()),
        # Omnigage's SDK sends a list on bulk uploads; each entry is read.
        ("application/json; charset=utf-8,application/vnd.api+json; ext=bulk", {"bulk"}),
    ],
    ids=["none", "blank", "plain json", "jsonapi", "bulk", "two", "profile", "sdk list"],
)
def test_a_content_type_names_its_extensions(
    content_type: str | None, extensions: set[str]
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}

    assert request_extensions(Request.from_values(headers=headers)) == extensions


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/vnd.api+json; charset=utf-8", "application/json, text/plain"],
    ids=["other type", "jsonapi with charset", "one bad entry in a list"],
)
def test_a_content_type_with_an_unsupported_entry_is_refused(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as refused:
        request_extensions(Request.from_values(headers={"Content-Type": content_type}))
    assert refused.value.source == {"header": "Content-Type"}


# --- Accept ---

REFUSED_ACCEPTS = [
    "application/vnd.api+json; charset=x",
    "text/html",
    "application/xml",
    "image/png, text/*",
    "application/vnd.api+json; q=0",
    "text/html, application/vnd.api+json; charset=utf-8",
]


@pytest.mark.parametrize("accept", REFUSED_ACCEPTS)
def test_accept_allowing_no_jsonapi_response_is_406(
    api: ApiClient, engagement_id: str, accept: str
) -> None:
    for path in ("/api/v1/engagements", f"/api/v1/engagements/{engagement_id}"):
        reply = api.get(path, headers={"Accept": accept})
        assert_error(reply, 406, header="Accept")
        assert reply.headers["Content-Type"] == JSONAPI


@pytest.mark.parametrize("accept", REFUSED_ACCEPTS)
def test_406_on_create_creates_nothing(app: Flask, api: ApiClient, accept: str) -> None:
    with unchanged(app):
        reply = api.post("/api/v1/engagements", ENGAGEMENT, headers={"Accept": accept})
    assert_error(reply, 406, header="Accept")


ACCEPTED_ACCEPTS = [
    JSONAPI,
    "*/*",
    "application/*",
    "application/json, application/vnd.api+json",
    "application/vnd.api+json; ext=bulk",
    'application/vnd.api+json; profile="https://example.com/profiles/timestamps"',
    "text/html, application/vnd.api+json",
    # JSON:API: instances with other parameters are ignored when one without them is present.
    "application/vnd.api+json; charset=x, application/vnd.api+json",
    "text/html;q=0.9, */*;q=0.1",
    "",
]


@pytest.mark.parametrize("accept", ACCEPTED_ACCEPTS)
def test_accept_allowing_jsonapi_is_served(api: ApiClient, engagement_id: str, accept: str) -> None:
    reply = api.get(f"/api/v1/engagements/{engagement_id}", headers={"Accept": accept})
    assert reply.status == 200, reply.document
    assert reply.headers["Content-Type"] == JSONAPI
    assert reply.data["id"] == engagement_id


# --- every response is application/vnd.api+json ---


def test_success_responses_are_jsonapi(app: Flask, api: ApiClient, engagement_id: str) -> None:
    listed = api.get("/api/v1/engagements")
    read = api.get(f"/api/v1/engagements/{engagement_id}")
    created = api.post("/api/v1/engagements", ENGAGEMENT)
    changed = api.patch(
        f"/api/v1/engagements/{engagement_id}",
        resource("engagements", {"name": "Renamed"}, id_=engagement_id),
    )
    for reply, status in ((listed, 200), (read, 200), (created, 201), (changed, 200)):
        assert reply.status == status, reply.document
        assert reply.headers["Content-Type"] == JSONAPI


def test_bulk_response_names_the_bulk_extension(
    app: Flask, api: ApiClient, engagement_id: str
) -> None:
    reply = api.post(
        "/api/v1/envelopes", {"data": [envelope(engagement_id, "+15197566220")]}, headers=BULK
    )
    assert reply.status == 201, reply.document
    assert reply.headers["Content-Type"] == "application/vnd.api+json; ext=bulk"


def test_missing_credentials_is_a_jsonapi_401(app: Flask, api: ApiClient) -> None:
    reply = api.get("/api/v1/engagements", headers={"Authorization": None})
    assert_error(reply, 401, header="Authorization")
    assert reply.headers["Content-Type"] == JSONAPI
    assert reply.headers["WWW-Authenticate"].startswith("Basic ")


# --- routing errors ---


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope",
        "/api/v1/engagements/{id}/nope",
        "/api/v1/engagements/{id}/relationships/activity",
        "/api/v2/engagements",
        "/nope",
    ],
)
def test_unknown_route_is_a_jsonapi_404(
    app: Flask, api: ApiClient, engagement_id: str, path: str
) -> None:
    with unchanged(app):
        reply = api.get(path.format(id=engagement_id))
    assert_error(reply, 404)
    assert reply.headers["Content-Type"] == JSONAPI


def test_unknown_id_is_a_jsonapi_404_naming_it(api: ApiClient) -> None:
    reply = api.get("/api/v1/engagements/yrbCdxqV2ZMdQBCszhA7TZ")
    assert_error(reply, 404, detail="yrbCdxqV2ZMdQBCszhA7TZ")


# (method, path, methods Allow must list, the method it must not)
NOT_ALLOWED = [
    ("PUT", "/api/v1/engagements", {"GET", "POST"}),
    ("DELETE", "/api/v1/engagements", {"GET", "POST"}),
    ("PATCH", "/api/v1/envelopes", {"GET", "POST"}),
    ("PUT", "/api/v1/engagements/{engagement}", {"GET", "PATCH"}),
    ("DELETE", "/api/v1/engagements/{engagement}", {"GET", "PATCH"}),
    ("POST", "/api/v1/engagements/{engagement}", {"GET", "PATCH"}),
    ("POST", "/api/v1/texts", {"GET"}),
    ("POST", "/api/v1/phone-numbers/{phone}", {"GET", "PATCH", "DELETE"}),
]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    NOT_ALLOWED,
    ids=[f"{method} {path}" for method, path, _ in NOT_ALLOWED],
)
def test_unsupported_method_is_a_jsonapi_405_with_allow(
    app: Flask, api: ApiClient, engagement_id: str, method: str, path: str, allowed: set[str]
) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id)
    url = path.format(engagement=engagement_id, phone=phone_id)
    with unchanged(app):
        reply = api.request(method, url, ENGAGEMENT)
    assert_error(reply, 405)
    assert reply.headers["Content-Type"] == JSONAPI
    allow = {name.strip() for name in reply.headers["Allow"].split(",")}
    assert allowed <= allow
    assert method not in allow
