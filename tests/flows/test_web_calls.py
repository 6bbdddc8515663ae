"""campaign/flows/web_calls.py: a web call's request from its templates and a run's variables,
table-driven: every SmartFlows input, what may not leave (bad URLs, header injection, framing
headers, sizes), the Idempotency-Key, and secrets masked in what is shown."""

from __future__ import annotations

import base64

import pytest

from campaign.flows.web_calls import (
    MASK,
    USER_AGENT,
    Unbuildable,
    WebCall,
    bad_header_name,
    build_request,
)

VARIABLES = {"order-id": "A 17/3", "first-name": "Ann", "count": 3, "vip": True}
KEY = "env1:2"


def test_the_seed_weather_call_is_a_get_with_its_user_agent() -> None:
    call = WebCall(
        "https://api.weather.gov/gridpoints/MFL/109,62/forecast",
        headers={"User-Agent": "(hotel.example, desk@hotel.example)"},
    )
    request = build_request(call, {}, idempotency_key=KEY)
    assert (request.method, request.url, request.body, request.timeout) == (
        "GET",
        "https://api.weather.gov/gridpoints/MFL/109,62/forecast",
        None,
        10.0,
    )
    assert request.headers == {
        "User-Agent": "(hotel.example, desk@hotel.example)",
        "Idempotency-Key": KEY,
    }


@pytest.mark.parametrize(
    ("call", "url", "headers", "body"),
    [
        (
            WebCall("http://127.0.0.1:8080/orders/{{ order-id | urlencode }}"),
            "http://127.0.0.1:8080/orders/A%2017/3",
            {"User-Agent": USER_AGENT},
            None,
        ),
        (
            WebCall(
                "https://orders.example/status",
                method="POST",
                content_type="application/json",
                body='{"order": "{{ order-id }}", "count": {{ count }}}',
            ),
            "https://orders.example/status",
            {"User-Agent": USER_AGENT, "Content-Type": "application/json"},
            b'{"order": "A 17/3", "count": 3}',
        ),
        (
            WebCall(
                "https://crm.example/contacts",
                method="PUT",
                headers={"X-Greeting": "Hi {{ first-name }}", "user-agent": "mine"},
            ),
            "https://crm.example/contacts",
            {"X-Greeting": "Hi Ann", "user-agent": "mine"},
            None,
        ),
        (
            WebCall("https://crm.example/c?vip={{ vip }}", method="DELETE"),
            "https://crm.example/c?vip=True",
            {"User-Agent": USER_AGENT},
            None,
        ),
        (
            WebCall("https://crm.example/c", method="PATCH", body="x={{ count }}"),
            "https://crm.example/c",
            {"User-Agent": USER_AGENT},
            b"x=3",
        ),
    ],
    ids=["url-with-urlencoded-variable", "json-post", "header-templates", "delete", "no-type"],
)
def test_templates_render_with_the_run_variables(
    call: WebCall, url: str, headers: dict[str, str], body: bytes | None
) -> None:
    request = build_request(call, VARIABLES, idempotency_key=KEY)
    assert request.method == call.method
    assert request.url == url
    assert request.headers == {**headers, "Idempotency-Key": KEY}
    assert request.body == body


def test_basic_auth_and_bearer_tokens_are_sent_and_masked_when_shown() -> None:
    call = WebCall("https://u.example/x?k=s3cret", basic_auth=("app", "s3cret"))
    request = build_request(call, {}, idempotency_key=KEY)
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"app:s3cret").decode()
    shown = request.display()
    assert shown["headers"]["Authorization"] == f"Basic {MASK}"
    assert shown["url"] == f"https://u.example/x?k={MASK}"
    assert "s3cret" not in repr(shown)

    with_token = build_request(
        WebCall("https://u.example/x"), {}, idempotency_key=KEY, bearer_token="tok"
    )
    assert with_token.headers["Authorization"] == "Bearer tok"
    assert with_token.display()["headers"]["Authorization"] == f"Bearer {MASK}"


def test_a_flows_own_authorization_header_is_masked_too() -> None:
    call = WebCall("https://u.example/x", headers={"Authorization": "Bearer abC0dEF"})
    request = build_request(call, {}, idempotency_key=KEY)
    assert request.headers["Authorization"] == "Bearer abC0dEF"
    assert request.display()["headers"]["Authorization"] == f"Bearer {MASK}"


@pytest.mark.parametrize(
    ("call", "variables", "reason"),
    [
        (WebCall("ftp://files.example/x"), {}, "http:// or https://"),
        (WebCall("file:///etc/passwd"), {}, "http:// or https://"),
        (WebCall("https:///no-host"), {}, "with a host"),
        (WebCall("https://h.example/{{ order-id }}"), VARIABLES, "space or control character"),
        (WebCall("https://h.example/{{ x }}"), {"x": "a\nHost: evil"}, "control character"),
        (WebCall("https://h.example:99999/"), {}, "not a URL"),
        (WebCall("https://h.example/{{ missing }}"), {}, "missing variable 'missing'"),
        (WebCall("https://h.example/{{ x.__class__ }}"), {"x": "y"}, "cannot be rendered"),
        (
            WebCall("https://h.example/", headers={"X-A": "{{ x }}"}),
            {"x": "a\r\nX-Injected: 1"},
            "line break or NUL",
        ),
        (WebCall("https://h.example/", headers={"Host": "evil"}), {}, "set by the HTTP client"),
        (WebCall("https://h.example/", headers={"Bad Name": "x"}), {}, "not an HTTP header name"),
        (
            WebCall("https://h.example/", headers={f"X-{n}": "v" for n in range(33)}),
            {},
            "at most 32 headers",
        ),
        (WebCall("https://h.example/" + "a" * 2100), {}, "cannot be rendered"),
        (WebCall("https://h.example/", body="{{ x }}"), {"x": "a" * 70_000}, "cannot be rendered"),
    ],
    ids=[
        "ftp",
        "file",
        "no-host",
        "space-from-a-variable",
        "newline-from-a-variable",
        "port-out-of-range",
        "missing-variable",
        "sandbox",
        "header-injection",
        "framing-header",
        "bad-header-name",
        "too-many-headers",
        "url-too-long",
        "body-too-long",
    ],
)
def test_a_request_that_may_not_leave_is_unbuildable_with_the_reason(
    call: WebCall, variables: dict[str, str], reason: str
) -> None:
    with pytest.raises(Unbuildable) as caught:
        build_request(call, variables, idempotency_key=KEY)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("User-Agent", None),
        ("X-Api-Key", None),
        ("Content-Length", "set by the HTTP client"),
        ("transfer-encoding", "set by the HTTP client"),
        ("", "not an HTTP header name"),
        ("X Y", "not an HTTP header name"),
        ("X:Y", "not an HTTP header name"),
        ("Ключ", "not an HTTP header name"),
        (5, "not an HTTP header name"),
    ],
)
def test_bad_header_name_says_why(name: object, problem: str | None) -> None:
    found = bad_header_name(name)
    assert found is None if problem is None else (found is not None and problem in found)
