"""Pause and cancel against texts already claimed into a round: after the PATCH answers, nothing
more reaches the carrier; texts that were not sent are never `unknown`. A real worker, the
loopback Twilio sink, and the PATCH over HTTP from another thread while the worker sends."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import httpx
from flask import Flask

from campaign.extensions import redis_store
from campaign.workers.sweep import sweep
from campaign.workers.throttle import throttle_key
from tests.client import ApiClient
from tests.factories import BULK, build_seed_campaign, envelope, make_phone_number, resource
from tests.jobs import drain
from tests.loopback_twilio import TwilioSetup
from tests.servers import configured

SIZE = 10
SENDER = "+15195550100"


def _slow_campaign(app: Flask, api: ApiClient) -> str:
    """Ten envelopes behind a sender of one text a second, scheduled."""
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=1)
    seed = build_seed_campaign(api, phone_id)
    extra = [
        envelope(seed.engagement_id, f"+1519555{index:04d}", {"first-name": f"N{index}"})
        for index in range(SIZE - 2)
    ]
    assert api.post("/api/v1/envelopes", {"data": extra}, headers=BULK).status == 201
    assert _patch(api, seed.engagement_id, "scheduled") == 202
    return seed.engagement_id


def _patch(api: ApiClient, engagement_id: str, status: str) -> int:
    return api.patch(
        f"/api/v1/engagements/{engagement_id}",
        resource("engagements", {"status": status}, id_=engagement_id),
    ).status


@dataclass
class Stop:
    """A PATCH sent over HTTP once the first text reached the sink; when it was answered."""

    status: int = 0
    answered: float = 0.0


def _stop_after_first_text(
    api: ApiClient, twilio: TwilioSetup, engagement_id: str, target: str
) -> tuple[threading.Thread, Stop]:
    stop = Stop()

    def run() -> None:
        deadline = time.monotonic() + 20
        while not twilio.sink.messages and time.monotonic() < deadline:
            time.sleep(0.01)
        body = resource("engagements", {"status": target}, id_=engagement_id)
        reply = httpx.patch(
            f"{twilio.base_url}/api/v1/engagements/{engagement_id}",
            content=json.dumps(body),
            headers=api.headers(),
            timeout=10,
        )
        stop.status, stop.answered = reply.status_code, time.monotonic()

    thread = threading.Thread(target=run, name="stopper", daemon=True)
    thread.start()
    return thread, stop


def _run_until_stopped(app: Flask, thread: threading.Thread, stop: Stop) -> None:
    drain(app)  # the worker sends in this thread until the stopped round ends
    thread.join(timeout=20)
    assert stop.answered, "the PATCH never answered"
    # Give the slots claimed before the stop every chance to go out: five at one a second.
    time.sleep(max(0.0, stop.answered + 6 - time.monotonic()))


def _statuses(api: ApiClient, engagement_id: str) -> list[str]:
    texts = api.get(f"/api/v1/texts?filter[engagement]={engagement_id}&page[size]=100").data
    return [text["attributes"]["status"] for text in texts]


def test_nothing_reaches_the_carrier_after_cancel_answers(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _slow_campaign(app, api)
    thread, stop = _stop_after_first_text(api, twilio, engagement_id, "cancelled")
    _run_until_stopped(app, thread, stop)
    assert stop.status == 200
    late = [m for m in twilio.sink.messages if m.received > stop.answered]
    assert late == []
    sent = len(twilio.sink.messages)
    assert 1 <= sent <= 2  # the first, and at most one that was on the wire at the PATCH
    statuses = _statuses(api, engagement_id)
    assert sorted(statuses) == sorted(["sent"] * sent + ["cancelled"] * (SIZE - sent))


def test_nothing_reaches_the_carrier_after_pause_answers_and_resume_sends_the_rest_once(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _slow_campaign(app, api)
    thread, stop = _stop_after_first_text(api, twilio, engagement_id, "paused")
    _run_until_stopped(app, thread, stop)
    assert stop.status == 200
    late = [m for m in twilio.sink.messages if m.received > stop.answered]
    assert late == []
    sent = len(twilio.sink.messages)
    assert 1 <= sent <= 2
    statuses = _statuses(api, engagement_id)
    assert sorted(statuses) == sorted(["sent"] * sent + ["queued"] * (SIZE - sent))
    assert _patch(api, engagement_id, "scheduled") == 202
    drain(app, timeout=40)
    assert sorted(m.to for m in twilio.sink.messages) == sorted(
        {m.to for m in twilio.sink.messages}
    )
    assert len(twilio.sink.messages) == SIZE
    assert _statuses(api, engagement_id) == ["sent"] * SIZE


def _texts(api: ApiClient, engagement_id: str) -> dict[str, dict[str, object]]:
    texts = api.get(f"/api/v1/texts?filter[engagement]={engagement_id}&page[size]=100").data
    return {text["attributes"]["to"]: text["attributes"] for text in texts}


def test_a_round_that_fails_before_anything_left_goes_back_to_the_queue_untried(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    with app.app_context():
        phone_id = make_phone_number(
            account_id=api.credentials.account_id, number=SENDER, throughput=1
        )
        connection = redis_store.connection
    first = build_seed_campaign(api, phone_id).engagement_id
    assert _patch(api, first, "scheduled") == 202
    drain(app)
    # The sender's rate state, corrupted (and kept, whether or not the first campaign's state
    # has expired yet): the next reservation is a Redis error, raised after the claim and
    # before any request.
    key = throttle_key(SENDER)
    connection.set(key, "not-a-number")
    second = build_seed_campaign(api, phone_id).engagement_id
    assert _patch(api, second, "scheduled") == 202
    drain(app)
    assert len(twilio.sink.messages) == 2  # the first engagement's
    texts = _texts(api, second)
    assert {(t["status"], t["retry-attempts"]) for t in texts.values()} == {("queued", 0)}

    connection.delete(key)
    with configured(app, STUCK_AFTER=0.5):
        time.sleep(0.6)
        with app.app_context():
            sweep()
    drain(app)
    assert {t["status"] for t in _texts(api, second).values()} == {"sent"}
    assert len(twilio.sink.messages) == 4


def test_a_refusal_the_database_cannot_store_is_failed_not_unknown(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=100)
    seed = build_seed_campaign(api, phone_id)
    refused, accepted = "+19734390088", "+15197566220"
    long_code = "2" * 40  # longer than the column that holds it
    twilio.sink.reject(refused, code=long_code)  # type: ignore[arg-type]
    assert _patch(api, seed.engagement_id, "scheduled") == 202
    drain(app)
    texts = _texts(api, seed.engagement_id)
    assert texts[accepted]["status"] == "sent"
    assert texts[accepted]["provider-message-id"] == twilio.sink.messages[0].sid
    assert texts[refused]["status"] == "failed"
    # A code longer than its column is replaced by the answer's HTTP status (providers/fields.py).
    assert texts[refused]["error-code"] == "400"
