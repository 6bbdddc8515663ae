"""campaign/workers/web_calls.py against loopback HTTP/1.1 servers written here: answers and
their variables, every way a call fails, the SSRF guard, the per-host cap, timeouts that do not
hold up other hosts, OAuth2 tokens shared and refetched, and secrets kept out of what is shown.
Nothing is contacted but 127.0.0.1, and the HTTP client is the real one.
"""

from __future__ import annotations

import base64
import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs

import pytest

from campaign.flows.extraction import ResponseVariable
from campaign.flows.oauth2 import Client, TokenCache
from campaign.flows.web_calls import MASK, MAX_ANSWER_BYTES, SHOWN_ANSWER_BYTES, WebCall
from campaign.workers.web_calls import Call, Result, WebCaller
from tests.sinks.web_service import (
    FORECAST,
    LONGEST_DELAY,
    Answer,
    Seen,
    Server,
    json_answer,
)

Serve = Callable[[Callable[[Seen], Answer]], Server]
Callers = Callable[..., WebCaller]


@pytest.fixture
def serve() -> Iterator[Serve]:
    servers: list[Server] = []

    def start(route: Callable[[Seen], Answer]) -> Server:
        servers.append(Server(route))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def callers() -> Iterator[Callers]:
    made: list[WebCaller] = []

    def make(*servers: Server, per_host: int = 8, **options: object) -> WebCaller:
        allow = frozenset(server.allow for server in servers)
        made.append(WebCaller(allow_hosts=allow, per_host=per_host, **options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for caller in made:
        caller.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str, **settings: object) -> WebCall:
    return WebCall(url=url, timeout=settings.pop("timeout", 5), **settings)  # type: ignore[arg-type]


def one(caller: WebCaller, web_call: WebCall, **options: object) -> Result:
    [result] = caller.call_many([Call("env-1:1", web_call, {}, **options)])  # type: ignore[arg-type]
    return result


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


# --- answers -----------------------------------------------------------------------------------


def test_a_forecast_answer_gives_the_wanted_variables(serve: Serve, callers: Callers) -> None:
    server = serve(lambda seen: json_answer(FORECAST))
    caller = callers(server)
    call = WebCall(
        url=server.url("/gridpoints/{{office}}/forecast?units={{units}}"),
        method="POST",
        headers={"Accept": "application/geo+json"},
        content_type="application/json",
        body='{"zip": "{{zip}}"}',
    )
    wanted = [
        ResponseVariable("temp", "properties.periods.0.temperature"),
        ResponseVariable("wind", "windSpeed"),
        ResponseVariable("forecast", "detailedForecast"),
    ]
    [result] = caller.call_many(
        [Call("env-1:2", call, {"office": "MFL", "units": "us", "zip": "33101"}, wanted=wanted)]
    )

    assert result.success and result.reason is None
    assert result.variables == {
        "temp": "84",
        "wind": "14 mph",
        "forecast": "A chance of showers after 4pm. Mostly sunny.",
    }
    assert (result.key, result.status) == ("env-1:2", 200)
    assert result.headers["content-type"] == "application/json"
    assert json.loads(result.body) == FORECAST
    assert result.request == {
        "method": "POST",
        "url": server.url("/gridpoints/MFL/forecast?units=us"),
        "headers": {
            "User-Agent": "campaign-web-call",
            "Accept": "application/geo+json",
            "Content-Type": "application/json",
            "Idempotency-Key": "env-1:2",
        },
    }
    [seen] = server.seen
    assert (seen.method, seen.target, seen.body) == (
        "POST",
        "/gridpoints/MFL/forecast?units=us",
        b'{"zip": "33101"}',
    )
    assert seen.headers["accept"] == "application/geo+json"
    assert seen.headers["content-type"] == "application/json"


def test_the_server_receives_the_idempotency_key(serve: Serve, callers: Callers) -> None:
    server = serve(lambda seen: Answer(200, b"ok"))
    caller = callers(server)
    caller.call_many(
        [Call("7f3c:4", get(server.url()), {}), Call("test:12:1", get(server.url()), {})]
    )

    assert sorted(seen.headers["idempotency-key"] for seen in server.seen) == [
        "7f3c:4",
        "test:12:1",
    ]


def test_without_wanted_variables_every_top_level_scalar_is_injected(
    serve: Serve, callers: Callers
) -> None:
    answer = {"temp": 84.50, "city": "Miami", "open": True, "nested": {"a": 1}, "none": None}
    server = serve(lambda seen: Answer(200, json.dumps(answer).encode()))
    result = one(callers(server), get(server.url()))

    assert result.success
    assert result.variables == {"temp": "84.5", "city": "Miami", "open": "true"}


def test_a_non_json_answer_with_nothing_wanted_is_a_success_without_variables(
    serve: Serve, callers: Callers
) -> None:
    server = serve(lambda seen: Answer(200, b"x" * (SHOWN_ANSWER_BYTES + 10)))
    result = one(callers(server), get(server.url()))

    assert (result.success, result.variables, result.status) == (True, {}, 200)
    assert result.body == b"x" * SHOWN_ANSWER_BYTES  # what a test request shows, cut


def test_an_answer_that_is_not_json_fails_when_variables_are_wanted(
    serve: Serve, callers: Callers
) -> None:
    server = serve(lambda seen: Answer(200, b"<html>sunny</html>"))
    result = one(callers(server), get(server.url()), wanted=[ResponseVariable("t", "temp")])

    assert not result.success
    assert result.reason is not None and result.reason.startswith("the answer is not JSON")
    assert (result.status, result.body, result.variables) == (200, b"<html>sunny</html>", {})


def test_a_missing_value_fails_with_extractions_reason(serve: Serve, callers: Callers) -> None:
    server = serve(lambda seen: json_answer({"properties": {"periods": []}}))
    wanted = [ResponseVariable("t", "properties.periods.0.temperature")]
    result = one(callers(server), get(server.url()), wanted=wanted)

    assert (result.success, result.reason) == (
        False,
        "the answer has no value for 'properties.periods.0.temperature'",
    )


def test_a_non_2xx_answer_fails_with_its_status_and_shows_its_body(
    serve: Serve, callers: Callers
) -> None:
    server = serve(lambda seen: json_answer({"temp": 1, "error": "busy"}, status=503))
    result = one(callers(server), get(server.url()))

    assert (result.success, result.reason, result.status) == (False, "answered 503", 503)
    assert json.loads(result.body) == {"temp": 1, "error": "busy"}
    assert result.variables == {}


def test_a_redirect_is_not_followed(serve: Serve, callers: Callers) -> None:
    elsewhere = serve(lambda seen: Answer(200, b"{}"))
    server = serve(lambda seen: Answer(302, b"", {"Location": elsewhere.url("/moved")}))
    result = one(callers(server, elsewhere), get(server.url()))

    assert (result.success, result.status) == (False, 302)
    assert result.reason == "answered 302; redirects are not followed"
    assert result.headers["location"] == elsewhere.url("/moved")
    assert elsewhere.seen == [] and elsewhere.connections == 0


def test_an_answer_over_1_mib_fails_unread(serve: Serve, callers: Callers) -> None:
    server = serve(lambda seen: Answer(200, b"x" * (MAX_ANSWER_BYTES + 1)))
    result = one(callers(server), get(server.url()))

    assert not result.success
    assert result.reason == "the answer is over 1 MiB; the rest was not read"
    assert (result.status, result.body) == (None, b"")


def test_an_unbuildable_call_fails_without_a_request(serve: Serve, callers: Callers) -> None:
    server = serve(lambda seen: Answer(200, b"{}"))
    call = Call("env-1:1", get(server.url("/orders/{{ id }}")), {"id": "7 8"})
    [result] = callers(server).call_many([call])

    assert not result.success and result.request is None
    assert result.reason is not None and "space" in result.reason
    assert server.connections == 0


# --- failures on the way -----------------------------------------------------------------------


def test_a_slow_answer_times_out_and_its_connection_is_not_reused(
    serve: Serve, callers: Callers
) -> None:
    def route(seen: Seen) -> Answer:
        return Answer(200, b"late", delay=LONGEST_DELAY) if seen.target == "/slow" else Answer()

    server = serve(route)
    caller = callers(server)
    timed_out = one(caller, get(server.url("/slow"), timeout=1))
    after = one(caller, get(server.url("/fast")))

    assert not timed_out.success
    assert timed_out.reason == "timed out after 1 s without a complete answer"
    assert timed_out.request is not None and timed_out.status is None
    assert after.success
    # The timed-out connection was closed: the next call came on a new one.
    assert [(seen.connection, seen.target) for seen in server.seen] == [(0, "/slow"), (1, "/fast")]


def test_a_slow_host_does_not_hold_up_a_fast_one(serve: Serve, callers: Callers) -> None:
    slow = serve(lambda seen: Answer(200, b"{}", delay=LONGEST_DELAY))
    fast = serve(lambda seen: json_answer({"temp": 84}))
    caller = callers(slow, fast)
    started = time.monotonic()
    results = caller.call_many(
        [
            Call("env-1:1", get(slow.url(), timeout=1), {}),
            Call("env-2:1", get(fast.url(), timeout=1), {}),
        ]
    )
    elapsed = time.monotonic() - started

    assert [(r.key, r.success) for r in results] == [("env-1:1", False), ("env-2:1", True)]
    assert results[0].reason == "timed out after 1 s without a complete answer"
    assert results[1].variables == {"temp": "84"}
    # About the slow call's own timeout, far from the slow host's answer.
    assert elapsed < 3.0


def test_a_refused_connection_fails_saying_so() -> None:
    port = free_port()
    caller = WebCaller(allow_hosts=frozenset({f"127.0.0.1:{port}"}), per_host=2)
    try:
        result = one(caller, get(f"http://127.0.0.1:{port}/"))
    finally:
        caller.close()

    assert not result.success and result.status is None
    assert result.reason is not None
    assert result.reason.startswith(f"cannot connect to 127.0.0.1:{port}: ConnectionRefusedError")


def test_loopback_not_in_the_allow_list_is_refused_and_nothing_reaches_it(serve: Serve) -> None:
    server = serve(lambda seen: Answer(200, b"{}"))
    caller = WebCaller(allow_hosts=frozenset({f"127.0.0.1:{free_port()}"}), per_host=2)
    try:
        result = one(caller, get(server.url("/latest/meta-data/")))
    finally:
        caller.close()

    assert not result.success
    assert result.reason == "127.0.0.1 is a loopback address; web calls may not reach it"
    assert result.request is not None and result.request["url"] == server.url("/latest/meta-data/")
    assert server.connections == 0 and server.seen == []


def test_a_url_the_guard_refuses_before_resolving_is_not_sent(callers: Callers) -> None:
    result = one(callers(), get("http://user:pw@example.com/"))

    assert result.reason == "the URL has a user name or password; send credentials in a header"


# --- concurrency -------------------------------------------------------------------------------


def test_at_most_per_host_connections_to_one_origin_and_results_in_order(
    serve: Serve, callers: Callers
) -> None:
    server = serve(
        lambda seen: Answer(
            200, json.dumps({"key": seen.headers["idempotency-key"]}).encode(), delay=0.1
        )
    )
    caller = callers(server, per_host=3)
    calls = [Call(f"env-{index}:1", get(server.url()), {}) for index in range(12)]
    results = caller.call_many(calls)

    assert [result.variables for result in results] == [{"key": call.key} for call in calls]
    assert len(server.seen) == 12
    assert server.most_open == 3


class JobTimeout(Exception):
    """What RQ's SIGALRM handler raises in a job that runs too long."""


def test_an_interruption_cancels_every_call_so_none_leaves_in_a_later_batch(
    serve: Serve, callers: Callers
) -> None:
    def route(seen: Seen) -> Answer:
        return Answer(200, b"{}", delay={"/first": 0.5, "/later": 0.6}.get(seen.target, 0.0))

    server = serve(route)
    caller = callers(server, per_host=1)

    def job_timeout(signum: int, frame: object) -> None:
        raise JobTimeout

    previous = signal.signal(signal.SIGALRM, job_timeout)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(JobTimeout):
            # The second waits for the one connection the first holds.
            caller.call_many(
                [
                    Call("a:1", get(server.url("/first")), {}),
                    Call("b:1", get(server.url("/second")), {}),
                ]
            )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    # Its loop runs long enough for the first's answer and the second's turn, had they been
    # left pending.
    later = one(caller, get(server.url("/later")))

    assert later.success
    assert [seen.target for seen in server.seen] == ["/first", "/later"]


def test_transports_past_the_bound_are_closed_least_recently_used_first(
    serve: Serve, callers: Callers
) -> None:
    servers = [serve(lambda seen: Answer(200, b"{}")) for _ in range(3)]
    caller = callers(*servers, max_transports=2)
    for server in servers[:2]:
        assert one(caller, get(server.url())).success
    assert [server.open for server in servers[:2]] == [1, 1]  # kept alive
    assert one(
        caller, get(servers[0].url())
    ).success  # the first is used again: the second is oldest
    assert one(caller, get(servers[2].url())).success

    assert wait_until(lambda: servers[1].open == 0)
    assert (servers[0].open, servers[2].open) == (1, 1)
    assert [server.connections for server in servers] == [1, 1, 1]


def test_a_flows_own_user_agent_is_the_only_one_sent(serve: Serve, callers: Callers) -> None:
    server = serve(lambda seen: Answer(200, b"{}"))
    caller = callers(server)
    caller.call_many(
        [
            Call("a:1", get(server.url(), headers={"user-agent": "forecast-bot/2"}), {}),
            Call("b:1", get(server.url()), {}),
        ]
    )

    agents = sorted(
        [value for name, value in seen.raw_headers if name.lower() == "user-agent"]
        for seen in server.seen
    )
    assert agents == [["campaign-web-call"], ["forecast-bot/2"]]


# --- OAuth2 ------------------------------------------------------------------------------------


class TokenServer:
    """A token URL giving tok-1, tok-2, ... and an API accepting the tokens in `accepted`."""

    def __init__(self, serve: Serve, delay: float = 0.0) -> None:
        self.issued = 0
        self.delay = delay
        self.status = 200
        self.accepted: set[str] = set()
        self._lock = threading.Lock()
        self.tokens = serve(self._token)
        self.api = serve(self._api)
        self.client = Client(
            self.tokens.url("/oauth/token"), "campaign app", "s3cr3t-client", "read"
        )

    def _token(self, seen: Seen) -> Answer:
        with self._lock:
            self.issued += 1
            token = f"tok-{self.issued}"
        if self.status != 200:
            return Answer(self.status, b'{"error": "server_error"}', delay=self.delay)
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        return Answer(200, json.dumps(answer).encode(), delay=self.delay)

    def _api(self, seen: Seen) -> Answer:
        scheme, _, token = seen.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.accepted:
            return Answer(401, b'{"error": "invalid_token"}')
        return json_answer({"temp": 84, "token": token})

    def bearers(self) -> list[str]:
        return [seen.headers["authorization"] for seen in self.api.seen]


def test_an_oauth2_token_is_fetched_once_and_reused_across_calls(
    serve: Serve, callers: Callers
) -> None:
    oauth = TokenServer(serve)
    oauth.accepted = {"tok-1"}
    caller = callers(oauth.tokens, oauth.api)
    first = one(caller, get(oauth.api.url()), oauth2=oauth.client)
    second = one(caller, get(oauth.api.url()), oauth2=oauth.client)

    assert (first.success, second.success) == (True, True)
    assert second.variables == {"temp": "84", "token": "tok-1"}
    assert oauth.issued == 1
    assert oauth.bearers() == ["Bearer tok-1", "Bearer tok-1"]
    [asked] = oauth.tokens.seen
    assert (asked.method, asked.target) == ("POST", "/oauth/token")
    assert asked.headers["authorization"] == "Basic " + base64.b64encode(
        b"campaign+app:s3cr3t-client"
    ).decode("ascii")
    assert parse_qs(asked.body.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["read"],
    }


def test_a_401_with_a_cached_token_fetches_a_new_one_and_calls_once_more(
    serve: Serve, callers: Callers
) -> None:
    oauth = TokenServer(serve)
    oauth.accepted = {"tok-1"}
    caller = callers(oauth.tokens, oauth.api)
    assert one(caller, get(oauth.api.url()), oauth2=oauth.client).success
    oauth.accepted = {"tok-2"}  # tok-1 revoked
    result = one(caller, get(oauth.api.url()), oauth2=oauth.client)

    assert result.success and result.variables["token"] == "tok-2"
    assert oauth.issued == 2
    assert oauth.bearers() == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    assert [seen.headers["idempotency-key"] for seen in oauth.api.seen][1:] == ["env-1:1"] * 2


def test_a_second_401_fails_the_call(serve: Serve, callers: Callers) -> None:
    oauth = TokenServer(serve)
    oauth.accepted = {"tok-1"}
    caller = callers(oauth.tokens, oauth.api)
    assert one(caller, get(oauth.api.url()), oauth2=oauth.client).success
    oauth.accepted = set()
    result = one(caller, get(oauth.api.url()), oauth2=oauth.client)

    assert (result.success, result.reason, result.status) == (False, "answered 401", 401)
    assert oauth.issued == 2
    assert oauth.bearers() == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_a_token_fetched_for_the_call_is_not_fetched_again_after_a_401(
    serve: Serve, callers: Callers
) -> None:
    oauth = TokenServer(serve)
    result = one(callers(oauth.tokens, oauth.api), get(oauth.api.url()), oauth2=oauth.client)

    assert (result.success, result.reason) == (False, "answered 401")
    assert oauth.issued == 1 and oauth.bearers() == ["Bearer tok-1"]


def test_concurrent_calls_with_one_client_share_one_token_fetch(
    serve: Serve, callers: Callers
) -> None:
    oauth = TokenServer(serve, delay=0.3)
    oauth.accepted = {"tok-1"}
    caller = callers(oauth.tokens, oauth.api, per_host=4)
    calls = [Call(f"env-{i}:1", get(oauth.api.url()), {}, oauth2=oauth.client) for i in range(50)]
    results = caller.call_many(calls)

    assert [result.success for result in results] == [True] * 50
    assert oauth.issued == 1
    assert set(oauth.bearers()) == {"Bearer tok-1"} and len(oauth.api.seen) == 50


def test_a_failed_token_fetch_fails_every_call_waiting_for_it_with_its_reason(
    serve: Serve, callers: Callers
) -> None:
    oauth = TokenServer(serve, delay=0.2)
    oauth.status = 500
    caller = callers(oauth.tokens, oauth.api)
    calls = [Call(f"env-{i}:1", get(oauth.api.url()), {}, oauth2=oauth.client) for i in range(5)]
    results = caller.call_many(calls)

    assert {(result.success, result.reason) for result in results} == {
        (False, "the token URL answered 500")
    }
    assert oauth.issued == 1 and oauth.api.seen == []
    assert results[0].request is not None and "Authorization" not in results[0].request["headers"]


def test_a_token_url_the_guard_refuses_fails_the_call_and_nothing_is_sent(serve: Serve) -> None:
    oauth = TokenServer(serve)
    caller = WebCaller(allow_hosts=frozenset({oauth.api.allow}), per_host=2)
    try:
        result = one(caller, get(oauth.api.url()), oauth2=oauth.client)
    finally:
        caller.close()

    assert result.reason == (
        "the token URL: 127.0.0.1 is a loopback address; web calls may not reach it"
    )
    assert oauth.tokens.connections == 0 and oauth.api.connections == 0


def test_secrets_are_masked_in_the_request_and_absent_from_reasons_and_logs(
    serve: Serve, callers: Callers, caplog: pytest.LogCaptureFixture
) -> None:
    oauth = TokenServer(serve)
    oauth.accepted = {"tok-1"}
    caller = callers(oauth.tokens, oauth.api)
    password = "hunter2-password"
    with caplog.at_level(logging.DEBUG):
        bearer = one(caller, get(oauth.api.url()), oauth2=oauth.client)
        oauth.accepted = set()
        refused = one(caller, get(oauth.api.url()), oauth2=oauth.client)
        basic = one(caller, get(oauth.api.url("/x"), basic_auth=("me", password)))
        oauth.status = 503
        failed = one(caller, get(oauth.api.url()), oauth2=oauth.client)

    assert bearer.success
    assert bearer.request is not None
    assert bearer.request["headers"]["Authorization"] == f"Bearer {MASK}"
    assert basic.request is not None
    assert basic.request["headers"]["Authorization"] == f"Basic {MASK}"
    assert (refused.reason, basic.reason, failed.reason) == (
        "answered 401",
        "answered 401",
        "the token URL answered 503",
    )
    shown = repr([bearer, refused, basic, failed]) + caplog.text
    # The API itself echoes tok-1 in `bearer.body`; nothing of ours shows a secret.
    shown = shown.replace(repr(bearer.body), "").replace(repr(bearer.variables), "")
    for secret in (password, "s3cr3t-client", "tok-1", "tok-2", "tok-3"):
        assert secret not in shown


def test_a_call_after_close_is_refused() -> None:
    caller = WebCaller(allow_hosts=frozenset(), per_host=1, token_cache=TokenCache())
    caller.close()
    with pytest.raises(RuntimeError):
        caller.call_many([Call("a:1", get("http://example.com/"), {})])
