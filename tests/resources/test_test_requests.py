"""`POST /api/v1/activities/{id}/test-requests` (Test HTTP Request) against a real HTTP server on
127.0.0.1: the call made once with sample variables, the request shown with its secrets masked,
the answer and the variables it would extract (the National Weather Service sample), each way a
call fails (a 500, a timeout, the SSRF guard), and that nothing is ever stored."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from campaign.flows.web_calls import MASK
from tests.assertions import assert_error, unchanged
from tests.client import ApiClient, Reply
from tests.factories import resource
from tests.servers import configured
from tests.sinks.web_service import FORECAST, Answer, Seen, Server, json_answer
from tests.world import World

PASSWORD = "pa55word-never-shown"
CLIENT_SECRET = "client-secret-never-shown"
TOKEN = "bearer-token-never-shown"
USER_AGENT = "(myweatherapp.com, contact@myweatherapp.com)"
WEATHER_VARIABLES = [
    {"name": "temp", "query": "properties.periods.0.temperature"},
    {"name": "winds", "query": "windSpeed"},
    {"name": "forecast", "query": "detailedForecast"},
]


@pytest.fixture
def service(app: Flask) -> Iterator[Server]:
    """The customer's service on loopback, in the allow list; it answers the forecast until a
    test routes it otherwise (`service.route = ...`)."""
    running = Server(lambda seen: json_answer(FORECAST))
    with configured(app, WEB_CALL_ALLOW_HOSTS=frozenset({running.allow})):
        yield running
    running.close()


def web_call(api: ApiClient, engagement_id: str, **attributes: Any) -> str:
    reply = api.post(
        "/api/v1/activities",
        resource(
            "activities",
            {"name": "Weather", "kind": "web-call", **attributes},
            {"engagement": ("engagements", engagement_id)},
        ),
    )
    assert reply.status == 201, reply.document
    return str(reply.data["id"])


def test_request(api: ApiClient, activity_id: str, variables: Any = None) -> Reply:
    body = None
    if variables is not None:
        body = {"data": {"type": "test-requests", "attributes": {"variables": variables}}}
    return api.post(f"/api/v1/activities/{activity_id}/test-requests", body)


test_request.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def assert_no_secret(reply: Reply) -> None:
    text = json.dumps(reply.document)
    for secret in (PASSWORD, CLIENT_SECRET, TOKEN):
        assert secret not in text, text
    encoded = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    assert encoded not in text, text


def test_the_weather_sample_answers_the_request_the_answer_and_the_variables(
    app: Flask, world: World, api: ApiClient, service: Server
) -> None:
    activity_id = web_call(
        api,
        world.spare_engagement_id,
        url=service.url("/gridpoints/MFL/109,62/forecast"),
        headers={"User-Agent": USER_AGENT},
        **{"response-variables": WEATHER_VARIABLES},
    )
    with unchanged(app):
        reply = test_request(api, activity_id)
    assert reply.status == 200, reply.document
    data = reply.data
    assert data["type"] == "test-requests"
    assert data["relationships"]["activity"]["data"] == {"type": "activities", "id": activity_id}
    attributes = data["attributes"]
    assert (attributes["success"], attributes["reason"]) == (True, None)
    assert attributes["variables"] == {
        "temp": "84",
        "winds": "14 mph",
        "forecast": "A chance of showers after 4pm. Mostly sunny.",
    }
    sent = attributes["request"]
    assert (sent["method"], sent["url"]) == ("GET", service.url("/gridpoints/MFL/109,62/forecast"))
    assert sent["headers"]["User-Agent"] == USER_AGENT
    assert sent["headers"]["Idempotency-Key"] == f"test:{activity_id}:{data['id']}"
    answered = attributes["response"]
    assert answered["status"] == 200
    assert json.loads(answered["body"]) == FORECAST
    assert {name.lower(): value for name, value in answered["headers"].items()}[
        "content-type"
    ] == "application/json"
    [seen] = service.seen
    assert (seen.method, seen.target) == ("GET", "/gridpoints/MFL/109,62/forecast")
    assert seen.headers["user-agent"] == USER_AGENT
    assert seen.headers["idempotency-key"] == f"test:{activity_id}:{data['id']}"


def test_sample_variables_fill_the_templates(world: World, api: ApiClient, service: Server) -> None:
    activity_id = web_call(
        api,
        world.spare_engagement_id,
        method="POST",
        url=service.url("/orders/{{order-id}}"),
        headers={"X-Store": "{{store}}"},
        body='{"order": "{{order-id}}", "qty": {{qty}}}',
        **{"content-type": "application/json"},
    )
    reply = test_request(api, activity_id, {"order-id": "A-17", "store": "north", "qty": 3})
    assert reply.status == 200, reply.document
    assert reply.data["attributes"]["request"]["url"] == service.url("/orders/A-17")
    [seen] = service.seen
    assert (seen.method, seen.target, seen.headers["x-store"]) == ("POST", "/orders/A-17", "north")
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == {"order": "A-17", "qty": 3}
    # No response-variables: every top-level scalar of the answer.
    assert reply.data["attributes"]["variables"] == {"type": "Feature"}


def test_a_variable_the_sample_lacks_fails_before_anything_is_sent(
    world: World, api: ApiClient, service: Server
) -> None:
    activity_id = web_call(api, world.spare_engagement_id, url=service.url("/orders/{{order-id}}"))
    reply = test_request(api, activity_id, {"store": "north"})
    assert reply.status == 200, reply.document
    attributes = reply.data["attributes"]
    assert attributes["success"] is False
    assert "order-id" in attributes["reason"]
    assert (attributes["request"], attributes["response"]) == (None, None)
    assert service.seen == []


def test_a_500_is_a_failure_with_the_answer_shown(
    world: World, api: ApiClient, service: Server
) -> None:
    service.route = lambda seen: Answer(500, b"upstream exploded", {"Content-Type": "text/plain"})
    activity_id = web_call(api, world.spare_engagement_id, url=service.url("/forecast"))
    reply = test_request(api, activity_id)
    assert reply.status == 200, reply.document
    attributes = reply.data["attributes"]
    assert (attributes["success"], attributes["reason"]) == (False, "answered 500")
    assert attributes["response"]["status"] == 500
    assert attributes["response"]["body"] == "upstream exploded"
    assert attributes["variables"] == {}


def test_a_server_slower_than_the_timeout_is_a_failure_without_a_response(
    world: World, api: ApiClient, service: Server
) -> None:
    service.route = lambda seen: Answer(200, b"{}", delay=5.0)
    activity_id = web_call(api, world.spare_engagement_id, url=service.url("/slow"), timeout=1)
    reply = test_request(api, activity_id)
    assert reply.status == 200, reply.document
    attributes = reply.data["attributes"]
    assert attributes["success"] is False
    assert "timed out after 1 s" in attributes["reason"]
    assert attributes["response"] is None
    assert attributes["request"]["url"] == service.url("/slow")
    assert len(service.seen) == 1


def test_a_host_not_allowed_is_refused_and_nothing_reaches_it(
    app: Flask, world: World, api: ApiClient, service: Server
) -> None:
    activity_id = web_call(api, world.spare_engagement_id, url=service.url("/forecast"))
    with configured(app, WEB_CALL_ALLOW_HOSTS=frozenset()), unchanged(app):
        reply = test_request(api, activity_id)
    assert reply.status == 200, reply.document
    attributes = reply.data["attributes"]
    assert attributes["success"] is False
    assert "127.0.0.1" in attributes["reason"]
    assert attributes["response"] is None
    assert service.seen == []


def test_basic_auth_is_sent_and_masked_even_where_the_answer_echoes_it(
    world: World, api: ApiClient, service: Server
) -> None:
    def echo(seen: Seen) -> Answer:
        return Answer(
            200,
            json.dumps({"you-sent": seen.headers["authorization"]}).encode(),
            {"X-Echo": seen.headers["authorization"], "Content-Type": "application/json"},
        )

    service.route = echo
    activity_id = web_call(
        api,
        world.spare_engagement_id,
        url=service.url("/echo"),
        **{"basic-auth": {"username": "ada", "password": PASSWORD}},
    )
    reply = test_request(api, activity_id)
    assert reply.status == 200, reply.document
    [seen] = service.seen
    sent = base64.b64decode(seen.headers["authorization"].removeprefix("Basic "))
    assert sent == f"ada:{PASSWORD}".encode()
    attributes = reply.data["attributes"]
    assert attributes["request"]["headers"]["Authorization"] == f"Basic {MASK}"
    assert json.loads(attributes["response"]["body"]) == {"you-sent": f"Basic {MASK}"}
    assert attributes["variables"] == {"you-sent": f"Basic {MASK}"}
    assert_no_secret(reply)


def test_oauth2_token_is_fetched_sent_and_masked(
    world: World, api: ApiClient, service: Server
) -> None:
    def route(seen: Seen) -> Answer:
        if seen.target == "/token":
            return json_answer({"access_token": TOKEN, "token_type": "Bearer"})
        return json_answer({"status": "shipped", "auth": seen.headers["authorization"]})

    service.route = route
    activity_id = web_call(
        api,
        world.spare_engagement_id,
        url=service.url("/orders/17"),
        oauth2={
            "token-url": service.url("/token"),
            "client-id": "campaign",
            "client-secret": CLIENT_SECRET,
        },
    )
    reply = test_request(api, activity_id)
    assert reply.status == 200, reply.document
    token_request, call = service.seen
    assert (token_request.method, token_request.target) == ("POST", "/token")
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    attributes = reply.data["attributes"]
    assert attributes["success"] is True
    assert attributes["request"]["headers"]["Authorization"] == f"Bearer {MASK}"
    assert attributes["variables"] == {"status": "shipped", "auth": f"Bearer {MASK}"}
    assert_no_secret(reply)


def test_only_a_web_call_can_be_tested(app: Flask, world: World, api: ApiClient) -> None:
    with unchanged(app):
        reply = test_request(api, world.seed.activity_id)
    assert_error(reply, 409, detail="web-call")


def test_an_unknown_or_another_accounts_activity_is_not_found(
    app: Flask, world: World, api: ApiClient, other_api: ApiClient, service: Server
) -> None:
    theirs = other_api.post("/api/v1/engagements", resource("engagements", {"name": "Theirs"}))
    activity_id = web_call(other_api, theirs.data["id"], url=service.url("/forecast"))
    with unchanged(app):
        assert_error(test_request(api, activity_id), 404)
        assert_error(test_request(api, "yrbCdxqV2ZMdQBCszhA7TZ"), 404)
    assert service.seen == []


BAD_BODIES = [
    pytest.param(
        {"variables": {"order": {"id": 1}}}, "/data/attributes/variables/order", id="nested"
    ),
    pytest.param({"variables": {"n": 2**60}}, "/data/attributes/variables/n", id="huge-number"),
    pytest.param(
        {"variables": {"x" * 65: "1"}}, f"/data/attributes/variables/{'x' * 65}", id="key"
    ),
    pytest.param({"variables": ["a"]}, "/data/attributes/variables", id="a-list"),
    pytest.param({"variables": {"big": "x" * 5000}}, "/data/attributes/variables", id="too-big"),
    pytest.param({"success": True}, "/data/attributes/success", id="read-only"),
    pytest.param({"url": "http://example.com"}, "/data/attributes/url", id="unknown"),
]


@pytest.mark.parametrize(("attributes", "pointer"), BAD_BODIES)
def test_a_bad_body_is_400_at_its_pointer_and_nothing_is_called(
    app: Flask,
    world: World,
    api: ApiClient,
    service: Server,
    attributes: dict[str, Any],
    pointer: str,
) -> None:
    activity_id = web_call(api, world.spare_engagement_id, url=service.url("/forecast"))
    body = {"data": {"type": "test-requests", "attributes": attributes}}
    with unchanged(app):
        reply = api.post(f"/api/v1/activities/{activity_id}/test-requests", body)
    assert_error(reply, 400, pointer=pointer)
    assert service.seen == []


def test_a_body_of_another_type_is_409(
    app: Flask, world: World, api: ApiClient, service: Server
) -> None:
    activity_id = web_call(api, world.spare_engagement_id, url=service.url("/forecast"))
    with unchanged(app):
        reply = api.post(
            f"/api/v1/activities/{activity_id}/test-requests",
            {"data": {"type": "activities", "attributes": {}}},
        )
    assert_error(reply, 409, pointer="/data/type")
    assert service.seen == []
