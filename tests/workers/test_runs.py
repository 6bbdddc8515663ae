"""Flows end to end: runs started over the API, web calls to a customer's loopback service whose
answers become variables, splits on a variable, texts through the loopback Twilio sink, with
real RQ workers on the real Redis. The seed samples: SmartFlows' weather (Inbound API trigger →
GET with a User-Agent → temp/winds/forecast → a text, or the apology when the service is slower
than the timeout) and TextIt's order status (OAuth2 client credentials → split on `status` →
a text per category)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
from flask import Flask

from campaign.workers.runner import InProcessWorker, build_worker
from tests import flows_api as flows
from tests.assertions import assert_error
from tests.client import ApiClient
from tests.factories import BULK, envelope, make_phone_number
from tests.jobs import drain
from tests.loopback_twilio import TwilioSetup
from tests.servers import configured
from tests.sinks.web_service import FORECAST, Answer, Seen, Server, json_answer

WEATHER = "It's currently {{temp}} F with {{winds}} winds. {{forecast}} Enjoy your stay!"
APOLOGY = "Sorry, no forecast right now. Enjoy your stay!"
USER_AGENT = "(campaign-tests.example, ops@example.com)"


@pytest.fixture
def phone_id(app: Flask, api: ApiClient) -> str:
    with app.app_context():
        return make_phone_number(account_id=api.credentials.account_id, throughput=100)


class Service:
    """A loopback web service whose answer each test sets; the app may call it."""

    def __init__(self, app: Flask) -> None:
        self.answer = lambda seen: json_answer({})
        self.server = Server(lambda seen: self.answer(seen))
        self._settings = configured(app, WEB_CALL_ALLOW_HOSTS=frozenset({self.server.allow}))

    def url(self, path: str) -> str:
        return self.server.url(path)

    @property
    def seen(self) -> list[Seen]:
        return list(self.server.seen)


@pytest.fixture
def service(app: Flask) -> Iterator[Service]:
    made = Service(app)
    with made._settings:
        yield made
    made.server.close()


def _weather_flow(api: ApiClient, service: Service, phone_id: str, *, timeout: int = 2) -> str:
    engagement_id = flows.engagement(api, **{"delivery-type": "triggered"})
    forecast = flows.activity(
        api,
        engagement_id,
        "Forecast",
        "web-call",
        method="GET",
        url=service.url("/gridpoints/MFL/109,62/forecast"),
        headers={"User-Agent": USER_AGENT},
        timeout=timeout,
        response_variables=[
            {"name": "temp", "query": "properties.periods.0.temperature"},
            {"name": "winds", "query": "windSpeed"},
            {"name": "forecast", "query": "detailedForecast"},
        ],
    )
    weather = flows.text(api, engagement_id, "Weather", WEATHER, phone_id)
    apology = flows.text(api, engagement_id, "Apology", APOLOGY, phone_id)
    flows.trigger(api, forecast, weather, "web-call-success")
    flows.trigger(api, forecast, apology, "web-call-failure")
    flows.schedule(api, engagement_id)
    return engagement_id


def test_the_weather_sample_runs_from_the_inbound_api_to_its_text(
    app: Flask, api: ApiClient, twilio: TwilioSetup, service: Service, phone_id: str
) -> None:
    service.answer = lambda seen: json_answer(FORECAST)
    engagement_id = _weather_flow(api, service, phone_id)
    drain(app)
    assert api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]["status"] == "sending"

    [envelope_id] = flows.add_envelopes(api, engagement_id, ("+15197566220", {"first-name": "Ann"}))
    drain(app)

    [message] = twilio.sink.messages
    assert message.to == "+15197566220"
    assert message.body == (
        "It's currently 84 F with 14 mph winds. A chance of showers after 4pm. Mostly sunny. "
        "Enjoy your stay!"
    )
    [call] = service.seen
    assert (call.method, call.target) == ("GET", "/gridpoints/MFL/109,62/forecast")
    assert call.headers["user-agent"] == USER_AGENT
    assert call.headers["idempotency-key"] == f"{envelope_id}:1"
    run = flows.run_of(api, envelope_id)
    assert (run["status"], run["exit-type"]) == ("completed", "completed")
    assert run["processed-at"] is not None
    assert {name: value["value"] for name, value in run["values"].items()} == {
        "temp": "84",
        "winds": "14 mph",
        "forecast": "A chance of showers after 4pm. Mostly sunny.",
    }
    assert [(step["step"], step["event"]) for step in run["path"]] == [
        (1, "web-call-success"),
        (2, "text-sent"),
    ]
    # A triggered engagement keeps taking runs: it never completes by itself.
    engagement = api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]
    assert (engagement["status"], engagement["count-complete"]) == ("sending", 1)


def test_the_weather_sample_apologises_when_the_service_is_slower_than_the_timeout(
    app: Flask, api: ApiClient, twilio: TwilioSetup, service: Service, phone_id: str
) -> None:
    service.answer = lambda seen: Answer(200, json.dumps(FORECAST).encode(), delay=3.0)
    engagement_id = _weather_flow(api, service, phone_id, timeout=1)
    drain(app)
    [envelope_id] = flows.add_envelopes(api, engagement_id, ("+15197566220", {}))
    drain(app)

    assert [message.body for message in twilio.sink.messages] == [APOLOGY]
    run = flows.run_of(api, envelope_id)
    assert run["exit-type"] == "completed"
    failure, sent = run["path"]
    assert failure["event"] == "web-call-failure"
    assert "timed out" in failure["reason"]
    assert sent["event"] == "text-sent"
    assert run["values"] == {}


def test_the_order_status_sample_splits_on_the_answer_behind_oauth2(
    app: Flask, api: ApiClient, twilio: TwilioSetup, service: Service, phone_id: str
) -> None:
    statuses = {"1001": "shipped", "1002": "pending", "1003": "lost"}
    tokens: list[Seen] = []
    lock = threading.Lock()

    def answer(seen: Seen) -> Answer:
        if seen.target == "/oauth/token":
            with lock:
                tokens.append(seen)
            return json_answer(
                {"access_token": "t0k3n", "token_type": "Bearer", "expires_in": 3600}
            )
        if seen.headers.get("authorization") != "Bearer t0k3n":
            return json_answer({"error": "unauthorized"}, 401)
        order = json.loads(seen.body)["order"]
        return json_answer({"order": order, "status": statuses[order]})

    service.answer = answer
    engagement_id = flows.engagement(
        api, **{"delivery-type": "triggered", "expected-inputs": ["order-id"]}
    )
    lookup = flows.activity(
        api,
        engagement_id,
        "Order lookup",
        "web-call",
        method="POST",
        url=service.url("/orders"),
        content_type="application/json",
        body='{"order": "{{order-id}}"}',
        oauth2={
            "token-url": service.url("/oauth/token"),
            "client-id": "campaign",
            "client-secret": "s3cret-value",
            "scope": "orders:read",
        },
        response_variables=[{"name": "status", "query": "status"}],
    )
    split = flows.activity(
        api,
        engagement_id,
        "order-status",
        "split",
        variable="status",
        rules=[
            {"category": "Shipped", "test": "equals", "arguments": ["shipped"]},
            {"category": "Pending", "test": "equals", "arguments": ["Pending"]},
        ],
    )
    shipped = flows.text(api, engagement_id, "Shipped", "Order {{order-id}} has shipped.", phone_id)
    pending = flows.text(
        api, engagement_id, "Pending", "Order {{order-id}} is being packed.", phone_id
    )
    other = flows.text(
        api, engagement_id, "Other", "We could not find order {{order-id}}.", phone_id
    )
    flows.trigger(api, lookup, split, "web-call-success")
    flows.trigger(api, split, shipped, "split", category="Shipped")
    flows.trigger(api, split, pending, "split", category="Pending")
    flows.trigger(api, split, other, "split", category="Other")
    flows.schedule(api, engagement_id)
    drain(app)

    ids = flows.add_envelopes(
        api,
        engagement_id,
        ("+15197566221", {"order-id": "1001"}),
        ("+15197566222", {"order-id": "1002"}),
        ("+15197566223", {"order-id": "1003"}),
    )
    drain(app)

    assert sorted((m.to, m.body) for m in twilio.sink.messages) == [
        ("+15197566221", "Order 1001 has shipped."),
        ("+15197566222", "Order 1002 is being packed."),
        ("+15197566223", "We could not find order 1003."),
    ]
    # One token for the three runs: a form POST with the client's Basic credentials.
    [token] = tokens
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token.headers["authorization"].startswith("Basic ")
    assert b"grant_type=client_credentials" in token.body
    orders = [seen for seen in service.seen if seen.target == "/orders"]
    assert sorted(seen.headers["idempotency-key"] for seen in orders) == sorted(
        f"{envelope_id}:1" for envelope_id in ids
    )
    first = flows.run_of(api, ids[0])
    assert first["values"]["order-status"]["value"] == "Shipped"
    assert [step["event"] for step in first["path"]] == ["web-call-success", "split", "text-sent"]
    # The client secret is write-only.
    shown = api.get(f"/api/v1/activities/{lookup}").document
    assert "s3cret-value" not in json.dumps(shown)


def test_an_envelope_without_an_expected_input_is_refused_and_stores_nothing(
    app: Flask, api: ApiClient, phone_id: str
) -> None:
    engagement_id = flows.engagement(
        api, **{"delivery-type": "triggered", "expected-inputs": ["OrderNo"]}
    )
    flows.text(api, engagement_id, "Hello", "Hello", phone_id)
    flows.schedule(api, engagement_id)
    reply = api.post(
        "/api/v1/envelopes",
        {"data": [envelope(engagement_id, "+15197566220", {"OrderNo": "1"}),
                  envelope(engagement_id, "+15197566221", {"orderno": "2"})]},
        headers=BULK,
    )  # fmt: skip
    assert_error(reply, 400, pointer="/data/1/attributes/meta", detail="'OrderNo'")
    listed = api.get(f"/api/v1/envelopes?filter[engagement]={engagement_id}").data
    assert listed == []


def test_a_web_call_to_a_host_that_is_not_allowed_fails_its_run_and_sends_nothing(
    app: Flask, api: ApiClient, twilio: TwilioSetup, phone_id: str
) -> None:
    server = Server(lambda seen: json_answer({"temp": 84}))
    try:
        engagement_id = flows.engagement(api)
        flows.activity(api, engagement_id, "Lookup", "web-call", url=server.url("/temp"))
        [envelope_id] = flows.add_envelopes(api, engagement_id, ("+15197566220", {}))
        flows.schedule(api, engagement_id)
        drain(app)
    finally:
        server.close()
    assert server.seen == []
    run = flows.run_of(api, envelope_id)
    assert (run["status"], run["exit-type"]) == ("failed", "failed")
    [failure] = run["path"]
    assert failure["event"] == "web-call-failure"
    assert "127.0.0.1" in failure["reason"] or "loopback" in failure["reason"]
    engagement = api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]
    assert (engagement["status"], engagement["count-incomplete"]) == ("completed", 1)


def test_a_trigger_that_loops_ends_the_run_failed_at_the_step_cap(
    app: Flask, api: ApiClient
) -> None:
    engagement_id = flows.engagement(api)
    split = flows.activity(
        api,
        engagement_id,
        "again",
        "split",
        variable="answer",
        rules=[{"category": "Yes", "test": "has-text", "arguments": []}],
    )
    flows.trigger(api, split, split, "split", category="Other")
    [envelope_id] = flows.add_envelopes(api, engagement_id, ("+15197566220", {}))
    with configured(app, MAX_RUN_STEPS=5):
        flows.schedule(api, engagement_id)
        drain(app)
    run = flows.run_of(api, envelope_id)
    assert (run["status"], run["exit-type"]) == ("failed", "failed")
    assert len(run["path"]) == 5
    assert "more than 5 steps" in run["path"][-1]["reason"]


def test_a_delayed_trigger_waits_then_goes_on(
    app: Flask, api: ApiClient, twilio: TwilioSetup, service: Service, phone_id: str
) -> None:
    service.answer = lambda seen: json_answer({"code": 7})
    engagement_id = flows.engagement(api)
    lookup = flows.activity(api, engagement_id, "Code", "web-call", url=service.url("/code"))
    later = flows.text(api, engagement_id, "Later", "Your code is {{code}}", phone_id)
    flows.trigger(api, lookup, later, "web-call-success", delay=1)
    [envelope_id] = flows.add_envelopes(api, engagement_id, ("+15197566220", {}))
    flows.schedule(api, engagement_id)
    drain(app)
    [message] = twilio.sink.messages
    assert message.body == "Your code is 7"
    run = flows.run_of(api, envelope_id)
    success, sent = run["path"]
    assert success["event"] == "web-call-success" and sent["event"] == "text-sent"
    assert _seconds_between(success["at"], sent["at"]) >= 1.0


def _seconds_between(first: str, second: str) -> float:
    return (datetime.fromisoformat(second) - datetime.fromisoformat(first)).total_seconds()


def test_cancelling_ends_runs_that_wait_on_a_delay(
    app: Flask, api: ApiClient, twilio: TwilioSetup, service: Service, phone_id: str
) -> None:
    engagement_id = flows.engagement(api)
    lookup = flows.activity(api, engagement_id, "Code", "web-call", url=service.url("/code"))
    later = flows.text(api, engagement_id, "Later", "Hi", phone_id)
    flows.trigger(api, lookup, later, "web-call-success", delay=3600)
    [envelope_id] = flows.add_envelopes(api, engagement_id, ("+15197566220", {}))
    flows.schedule(api, engagement_id)
    drain_until_waiting(app, api, envelope_id)
    reply = flows.set_status(api, engagement_id, "cancelled")
    assert reply.status == 200, reply.document
    run = flows.run_of(api, envelope_id)
    assert (run["status"], run["exit-type"]) == ("cancelled", "cancelled")
    assert twilio.sink.messages == []


def drain_until_waiting(app: Flask, api: ApiClient, envelope_id: str) -> None:
    """Work the jobs until the run has made its web call (its delayed job stays scheduled)."""
    worker = build_worker(app, InProcessWorker)
    for _ in range(50):
        worker.work(burst=True, with_scheduler=False)
        if flows.run_of(api, envelope_id)["path"]:
            return
    raise AssertionError("the run did not make its web call")


def test_a_run_cancelled_while_its_web_call_is_out_stays_cancelled(
    app: Flask, api: ApiClient, twilio: TwilioSetup, service: Service, phone_id: str
) -> None:
    engagement_id = flows.engagement(api)
    lookup = flows.activity(api, engagement_id, "Code", "web-call", url=service.url("/code"))
    later = flows.text(api, engagement_id, "Later", "Your code is {{code}}", phone_id)
    flows.trigger(api, lookup, later, "web-call-success")
    [envelope_id] = flows.add_envelopes(api, engagement_id, ("+15197566220", {}))
    cancelled: list[int] = []

    def cancel_then_answer(seen: Seen) -> Answer:
        # The operator cancels while the worker waits on this answer.
        cancelled.append(flows.set_status(api, engagement_id, "cancelled").status)
        return json_answer({"code": 7})

    service.answer = cancel_then_answer
    flows.schedule(api, engagement_id)
    drain(app)
    assert cancelled == [200]
    run = flows.run_of(api, envelope_id)
    assert (run["status"], run["exit-type"]) == ("cancelled", "cancelled")
    assert run["values"] == {}
    assert twilio.sink.messages == []
