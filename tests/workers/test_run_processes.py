"""Flows under real `campaign worker` processes: a worker killed with SIGKILL while its web
calls are out (the runs resume at their step once the calls' lease ends, each call is made
again with the same Idempotency-Key for the receiver to deduplicate, and each run's text is
sent exactly once); an engagement whose service hangs does not hold up another's runs."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests import flows_api as flows
from tests.campaign_runs import Workers, wait_until, worker_environment
from tests.client import ApiClient
from tests.factories import make_phone_number
from tests.loopback_twilio import TwilioSetup
from tests.sinks.web_service import Answer, Seen, Server, json_answer

SIZE = 20
TIMEOUT = 2  # the web call's; its lease is this plus CAMPAIGN_STUCK_AFTER
SLOW_TIMEOUT = 9  # below the hanging answer's 10 s


class FirstCallHangs:
    """Answers each Idempotency-Key's first call only after the test is over; every repeat at
    once."""

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.server = Server(self.route)

    def route(self, seen: Seen) -> Answer:
        if seen.target == "/fast":
            return json_answer({"code": 8})
        key = seen.headers["idempotency-key"]
        with self._lock:
            self.keys[key] += 1
            first = self.keys[key] == 1
        return Answer(200, b'{"code": 7}', delay=10.0) if first else json_answer({"code": 7})


@pytest.fixture
def service() -> Iterator[FirstCallHangs]:
    made = FirstCallHangs()
    yield made
    made.server.close()


@pytest.fixture
def workers(
    app_environment: dict[str, str], twilio: TwilioSetup, service: FirstCallHangs, tmp_path: Path
) -> Iterator[Workers]:
    env = worker_environment(
        app_environment, twilio, CAMPAIGN_WEB_CALL_ALLOW_HOSTS=service.server.allow
    )
    started = Workers(env, tmp_path)
    yield started
    started.stop_all()


def test_a_worker_killed_mid_web_call_resumes_the_runs_and_texts_each_once(
    app: Flask, api: ApiClient, twilio: TwilioSetup, service: FirstCallHangs, workers: Workers
) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=1000)
    engagement_id = flows.engagement(api)
    lookup = flows.activity(
        api, engagement_id, "Code", "web-call", url=service.server.url("/code"), timeout=TIMEOUT
    )
    text = flows.text(api, engagement_id, "Code text", "Your code is {{code}}", phone_id)
    flows.trigger(api, lookup, text, "web-call-success")
    ids = flows.add_envelopes(
        api, engagement_id, *((f"+1519555{index:04d}", {}) for index in range(SIZE))
    )
    flows.schedule(api, engagement_id)

    first = workers.start()
    wait_until(lambda: len(service.keys) == SIZE, 30, "the web calls did not go out")
    first.kill()
    workers.start()
    wait_until(lambda: len(twilio.sink.messages) >= SIZE, 60, "the runs did not resume")
    wait_until(
        lambda: all(flows.run_of(api, envelope_id)["exit-type"] for envelope_id in ids),
        30,
        "the runs did not end",
    )

    # Each call made twice under its one key (the first never answered), none three times.
    assert set(service.keys) == {f"{envelope_id}:1" for envelope_id in ids}
    assert set(service.keys.values()) == {2}
    assert Counter(message.to for message in twilio.sink.messages) == Counter(
        {f"+1519555{index:04d}": 1 for index in range(SIZE)}
    )
    assert {message.body for message in twilio.sink.messages} == {"Your code is 7"}
    run = flows.run_of(api, ids[0])
    assert (run["exit-type"], [step["event"] for step in run["path"]]) == (
        "completed",
        ["web-call-success", "text-sent"],
    )


def test_a_hanging_service_of_one_engagement_does_not_hold_up_another(
    app: Flask, api: ApiClient, twilio: TwilioSetup, service: FirstCallHangs, workers: Workers
) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=1000)
    # The slow service's first answers come after the test; its calls wait out SLOW_TIMEOUT.
    slow, slow_ids = _code_flow(
        api, phone_id, service.server.url("/code"), "+1519555", timeout=SLOW_TIMEOUT
    )
    fast, fast_ids = _code_flow(
        api, phone_id, service.server.url("/fast"), "+1519666", timeout=TIMEOUT
    )
    workers.start()
    workers.start()
    flows.schedule(api, slow)
    wait_until(lambda: len(service.keys) == SIZE, 30, "the slow engagement's calls did not go out")
    flows.schedule(api, fast)
    # Every fast run ends while the slow engagement's first calls (10 s) are still out.
    wait_until(
        lambda: sum(message.to.startswith("+1519666") for message in twilio.sink.messages) == SIZE,
        TIMEOUT + 5,
        "the fast engagement waited on the slow one's service",
    )
    assert not any(message.to.startswith("+1519555") for message in twilio.sink.messages)
    # A round records its texts (and so ends their runs) once its last request is answered.
    wait_until(
        lambda: (
            {flows.run_of(api, envelope_id)["exit-type"] for envelope_id in fast_ids}
            == {"completed"}
        ),
        5,
        "the fast runs did not end once their texts had left",
    )
    assert {flows.run_of(api, envelope_id)["exit-type"] for envelope_id in slow_ids} == {None}


def _code_flow(
    api: ApiClient, phone_id: str, url: str, prefix: str, *, timeout: int
) -> tuple[str, list[str]]:
    engagement_id = flows.engagement(api)
    lookup = flows.activity(api, engagement_id, "Code", "web-call", url=url, timeout=timeout)
    text = flows.text(api, engagement_id, "Code text", "Your code is {{code}}", phone_id)
    flows.trigger(api, lookup, text, "web-call-success")
    ids = flows.add_envelopes(
        api, engagement_id, *((f"{prefix}{index:04d}", {}) for index in range(SIZE))
    )
    return engagement_id, ids
