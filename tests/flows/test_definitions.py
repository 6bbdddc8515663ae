"""campaign/flows/definitions.py: a flow's definitions as the API receives them, table-driven:
every web-call input (SmartFlows' External Web Call) and split rule, each refusal at its exact
member, the bounds at their worst case, PATCH merging that keeps write-only secrets, secrets never
in settings or in what is shown, triggers against their activity, and the round trip to the
dataclasses the runs use."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from campaign.errors import ApiError, ApiErrors, InvalidAttribute
from campaign.flows import definitions, extraction, oauth2, splits, steps, web_calls
from campaign.flows.definitions import (
    BASIC_AUTH_PASSWORD,
    MAX_CATEGORY_LENGTH,
    MAX_DELAY_IN_SECONDS,
    MAX_RESPONSE_VARIABLES,
    MAX_RULES,
    MAX_UNKNOWN_NAMED,
    OAUTH2_CLIENT_SECRET,
    SPLIT_ATTRIBUTES,
    WEB_CALL_ATTRIBUTES,
    check_trigger,
    oauth2_client_of,
    response_variables_of,
    shown,
    split_of,
    split_settings,
    web_call_of,
    web_call_settings,
)

URL = "https://api.weather.gov/gridpoints/MFL/109,62/forecast"
WEATHER: dict[str, Any] = {
    "url": URL,
    "headers": {"User-Agent": "(hotel.example, desk@hotel.example)"},
    "response-variables": [
        {"name": "temp", "query": "temperature"},
        {"name": "winds", "query": "windSpeed"},
        {"name": "forecast", "query": "detailedForecast"},
    ],
}
BASIC = {"username": "hotel", "password": "s3cret-pw"}
OAUTH = {
    "token-url": "https://auth.example/token",
    "client-id": "crm-client",
    "client-secret": "s3cret-client",
    "scope": "contacts.read",
}
OAUTH_SHOWN = {"token-url": OAUTH["token-url"], "client-id": "crm-client", "scope": "contacts.read"}
SECRETS = ("s3cret-pw", "s3cret-client")
RULES: list[dict[str, Any]] = [
    {"category": "Hot", "test": "number-gte", "arguments": ["80"]},
    {"category": "Mild", "test": "number-between", "arguments": ["60", "79.5"]},
    {"category": "Unknown", "test": "has-text"},
]
SPLIT = {"variable": "temp", "rules": RULES}
RULES_STORED = [
    {"category": "Hot", "test": "number-gte", "arguments": ["80"]},
    {"category": "Mild", "test": "number-between", "arguments": ["60", "79.5"]},
    {"category": "Unknown", "test": "has-text", "arguments": []},
]


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`base` with attributes changed; keyword names use _ for -."""
    return {**base, **{name.replace("_", "-"): value for name, value in changes.items()}}


def web(**changes: Any) -> dict[str, Any]:
    return with_({"url": URL}, **changes)


def refusals(call: Callable[[], object]) -> list[ApiError]:
    try:
        call()
    except ApiErrors as exc:
        return exc.errors
    except ApiError as exc:
        return [exc]
    raise AssertionError("accepted")


def test_the_attribute_sets_are_the_two_kinds_settings() -> None:
    assert len(WEB_CALL_ATTRIBUTES) == 9 and len(SPLIT_ATTRIBUTES) == 2
    assert not WEB_CALL_ATTRIBUTES & SPLIT_ATTRIBUTES


def test_the_seed_weather_call_gets_every_default() -> None:
    settings, secrets = web_call_settings(WEATHER)
    assert settings == {
        "method": "GET",
        "url": URL,
        "headers": {"User-Agent": "(hotel.example, desk@hotel.example)"},
        "basic-auth": None,
        "oauth2": None,
        "content-type": None,
        "body": None,
        "timeout": 10,
        "response-variables": WEATHER["response-variables"],
    }
    assert secrets == {}
    assert set(settings) == WEB_CALL_ATTRIBUTES


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (web(method="post"), {"method": "POST"}),
        (web(method="Delete"), {"method": "DELETE"}),
        (web(method=None), {"method": "GET"}),
        (web(url="HTTPS://API.EXAMPLE/x"), {"url": "HTTPS://API.EXAMPLE/x"}),
        (web(url="http://127.0.0.1:8080/orders"), {"url": "http://127.0.0.1:8080/orders"}),
        (
            web(url="https://crm.example/c/{{ order-id | urlencode }}"),
            {"url": "https://crm.example/c/{{ order-id | urlencode }}"},
        ),
        (web(url="{{ base-url }}/orders"), {"url": "{{ base-url }}/orders"}),
        (web(url="{% if vip %}https://a.example{% else %}https://b.example{% endif %}"), {}),
        (web(url="{{ 'https://api.example' }}/x"), {"url": "{{ 'https://api.example' }}/x"}),
        (web(timeout=1), {"timeout": 1}),
        (web(timeout=200), {"timeout": 200}),
        (web(timeout=30.0), {"timeout": 30}),
        (web(timeout=None), {"timeout": 10}),
        (web(headers=None), {"headers": {}}),
        (web(headers={"X-Greeting": "Hi {{ first-name }}"}), {}),
        (
            web(headers={f"X-{index}": "v" for index in range(web_calls.MAX_HEADERS)}),
            {"headers": {f"X-{index}": "v" for index in range(web_calls.MAX_HEADERS)}},
        ),
        (web(headers={"X-A": "v" * web_calls.MAX_HEADER_VALUE_LENGTH}), {}),
        (
            web(method="POST", content_type="application/json", body='{"o": "{{ order-id }}"}'),
            {"content-type": "application/json", "body": '{"o": "{{ order-id }}"}'},
        ),
        (web(body="x" * web_calls.MAX_BODY_TEMPLATE_LENGTH), {}),
        (web(content_type="x" * definitions.MAX_CONTENT_TYPE_LENGTH), {}),
        (web(headers={"Content-Type": "text/plain"}, body="hi"), {}),
        (web(headers={"Authorization": "Bearer abC0dEF"}), {}),
        (web(response_variables=None), {"response-variables": []}),
        (
            web(
                response_variables=[{"name": f"v{index}", "query": "a.b.0"} for index in range(100)]
            ),
            {},
        ),
        (
            web(response_variables=[{"name": "first_name-v2", "query": "properties.periods.0"}]),
            {"response-variables": [{"name": "first_name-v2", "query": "properties.periods.0"}]},
        ),
        (
            web(response_variables=[{"name": "x" * extraction.MAX_NAME_LENGTH, "query": "x"}]),
            {},
        ),
        (
            web(basic_auth={"username": "hotel", "password": ""}),
            {"basic-auth": {"username": "hotel"}},
        ),
        (web(basic_auth=None, oauth2=None), {"basic-auth": None, "oauth2": None}),
        (
            web(oauth2={**OAUTH, "scope": None}),
            {"oauth2": {"token-url": OAUTH["token-url"], "client-id": "crm-client", "scope": None}},
        ),
        (web(oauth2={**OAUTH, "scope": ""}), {}),
    ],
    ids=[
        "method-lower-case",
        "method-mixed-case",
        "method-null-is-get",
        "url-scheme-any-case",
        "url-loopback-with-port",
        "url-with-a-variable",
        "url-from-a-variable",
        "url-from-a-condition",
        "url-constant-expression",
        "timeout-min",
        "timeout-max",
        "timeout-whole-float",
        "timeout-null-is-default",
        "headers-null-is-empty",
        "header-value-template",
        "headers-at-the-cap",
        "header-value-at-the-cap",
        "content-type-and-body",
        "body-at-the-cap",
        "content-type-at-the-cap",
        "content-type-header-without-the-attribute",
        "authorization-header-without-auth",
        "response-variables-null-is-empty",
        "response-variables-at-the-cap",
        "response-variable-name-characters",
        "response-variable-name-at-the-cap",
        "basic-auth-empty-password",
        "auth-null",
        "oauth2-without-scope",
        "oauth2-empty-scope",
    ],
)
def test_a_web_call_is_accepted(given: dict[str, Any], expected: dict[str, Any]) -> None:
    settings, _ = web_call_settings(given)
    assert set(settings) == WEB_CALL_ATTRIBUTES
    for name, value in expected.items():
        assert settings[name] == value


LONG_URL = "https://api.example/" + "a" * web_calls.MAX_URL_LENGTH
TOO_MANY_HEADERS = {f"X-{index}": "v" for index in range(web_calls.MAX_HEADERS + 1)}


@pytest.mark.parametrize(
    ("given", "at", "words"),
    [
        (web(method="FETCH"), "attributes/method", ["GET, POST, PATCH, PUT, DELETE"]),
        (web(method=1), "attributes/method", ["method is one of"]),
        ({}, "attributes/url", ["url is required"]),
        (web(url=None), "attributes/url", ["url is required"]),
        (web(url=""), "attributes/url", ["non-empty string"]),
        (web(url=["https://a.example"]), "attributes/url", ["non-empty string"]),
        (web(url=LONG_URL), "attributes/url", ["at most 2048"]),
        (web(url="https://a.example/{{ id"), "attributes/url", ["not a valid template"]),
        (web(url="https://a.example/{{ config }}"), "attributes/url", ["reserved"]),
        (web(url="ftp://files.example/x"), "attributes/url", ["http:// or https://"]),
        (web(url="javascript:alert(1)"), "attributes/url", ["http:// or https://"]),
        (web(url="https://"), "attributes/url", ["with a host"]),
        (web(url="https://a.example/a b"), "attributes/url", ["space"]),
        (web(url="https://a.example:99999/"), "attributes/url", ["not a URL"]),
        (web(url="api.example/{{ id }}"), "attributes/url", ["http:// or https://"]),
        (web(url="{{ 1 / 0 }}"), "attributes/url", ["not a valid template"]),
        (web(headers=[["X-A", "1"]]), "attributes/headers", ["object"]),
        (web(headers="X-A: 1"), "attributes/headers", ["object"]),
        (web(headers=TOO_MANY_HEADERS), "attributes/headers", ["at most 32 headers"]),
        (web(headers={"Bad Header": "x"}), "attributes/headers/Bad Header", ["header name"]),
        (web(headers={"": "x"}), "attributes/headers/", ["header name"]),
        (web(headers={"a/b~c": "x"}), "attributes/headers/a~1b~0c", ["header name"]),
        (web(headers={"Host": "evil.example"}), "attributes/headers/Host", ["HTTP client"]),
        (
            web(headers={"Transfer-Encoding": "chunked"}),
            "attributes/headers/Transfer-Encoding",
            ["HTTP client"],
        ),
        (web(headers={"X-A": 1}), "attributes/headers/X-A", ["X-A", "string"]),
        (web(headers={"X-A": None}), "attributes/headers/X-A", ["string"]),
        (web(headers={"X-A": "a\r\nX-Evil: 1"}), "attributes/headers/X-A", ["line break"]),
        (web(headers={"X-A": "a\x00"}), "attributes/headers/X-A", ["NUL"]),
        (web(headers={"X-A": "{{ name"}), "attributes/headers/X-A", ["not a valid template"]),
        (
            web(headers={"X-A": "v" * (web_calls.MAX_HEADER_VALUE_LENGTH + 1)}),
            "attributes/headers/X-A",
            ["at most 4096"],
        ),
        (web(headers={"X-A": "1", "x-a": "2"}), "attributes/headers/x-a", ["twice"]),
        (
            web(headers={"authorization": "Bearer x"}, basic_auth=BASIC),
            "attributes/headers/authorization",
            ["Authorization"],
        ),
        (
            web(headers={"Authorization": "Bearer x"}, oauth2=OAUTH),
            "attributes/headers/Authorization",
            ["Authorization"],
        ),
        (
            web(headers={"content-type": "text/plain"}, content_type="application/json"),
            "attributes/headers/content-type",
            ["content-type attribute"],
        ),
        (web(basic_auth="hotel:pw"), "attributes/basic-auth", ["object", "username"]),
        (web(basic_auth={"username": "hotel"}), "attributes/basic-auth/password", ["required"]),
        (web(basic_auth={"password": "pw"}), "attributes/basic-auth/username", ["required"]),
        (
            web(basic_auth={"username": "", "password": "pw"}),
            "attributes/basic-auth/username",
            ["required"],
        ),
        (
            web(basic_auth={"username": "a:b", "password": "pw"}),
            "attributes/basic-auth/username",
            ["':'"],
        ),
        (
            web(basic_auth={"username": "hotel", "password": 1234}),
            "attributes/basic-auth/password",
            ["string"],
        ),
        (
            web(basic_auth={"username": "u" * 4097, "password": "pw"}),
            "attributes/basic-auth/username",
            ["at most 4096"],
        ),
        (
            web(basic_auth={**BASIC, "realm": "x"}),
            "attributes/basic-auth/realm",
            ["'realm'", "username, password"],
        ),
        (web(oauth2="token"), "attributes/oauth2", ["object"]),
        (
            web(oauth2={**OAUTH, "token-url": None}),
            "attributes/oauth2/token-url",
            ["token-url is required"],
        ),
        (
            web(oauth2={**OAUTH, "token-url": "https://auth.example/{{ tenant }}"}),
            "attributes/oauth2/token-url",
            ["not a template"],
        ),
        (
            web(oauth2={**OAUTH, "token-url": "ftp://auth.example/token"}),
            "attributes/oauth2/token-url",
            ["http:// or https://"],
        ),
        (
            web(oauth2={**OAUTH, "token-url": "https://auth.example/" + "t" * 2048}),
            "attributes/oauth2/token-url",
            ["at most 2048"],
        ),
        (
            web(oauth2={**OAUTH, "client-id": ""}),
            "attributes/oauth2/client-id",
            ["client-id is required"],
        ),
        (
            web(oauth2={k: v for k, v in OAUTH.items() if k != "client-secret"}),
            "attributes/oauth2/client-secret",
            ["client-secret is required"],
        ),
        (
            web(oauth2={**OAUTH, "client-secret": ""}),
            "attributes/oauth2/client-secret",
            ["required"],
        ),
        (web(oauth2={**OAUTH, "scope": 5}), "attributes/oauth2/scope", ["scope"]),
        (web(oauth2={**OAUTH, "scope": "a\nb"}), "attributes/oauth2/scope", ["one line"]),
        (
            web(oauth2={**OAUTH, "grant-type": "password"}),
            "attributes/oauth2/grant-type",
            ["'grant-type'", "token-url"],
        ),
        (web(basic_auth=BASIC, oauth2=OAUTH), "attributes/oauth2", ["not both"]),
        (web(content_type="application/json\r\nX-Evil: 1"), "attributes/content-type", ["line"]),
        (web(content_type=""), "attributes/content-type", ["media type"]),
        (web(content_type="x" * 256), "attributes/content-type", ["255"]),
        (web(content_type=["application/json"]), "attributes/content-type", ["media type"]),
        (web(body={"order": 1}), "attributes/body", ["body is a string"]),
        (web(body="{{ order-id "), "attributes/body", ["not a valid template"]),
        (
            web(body="x" * (web_calls.MAX_BODY_TEMPLATE_LENGTH + 1)),
            "attributes/body",
            ["at most 16384"],
        ),
        (web(timeout=0), "attributes/timeout", ["from 1 to 200"]),
        (web(timeout=201), "attributes/timeout", ["from 1 to 200"]),
        (web(timeout=-1), "attributes/timeout", ["from 1 to 200"]),
        (web(timeout=True), "attributes/timeout", ["whole number"]),
        (web(timeout=False), "attributes/timeout", ["whole number"]),
        (web(timeout=10.5), "attributes/timeout", ["whole number"]),
        (web(timeout="10"), "attributes/timeout", ["whole number"]),
        (web(timeout=float("inf")), "attributes/timeout", ["whole number"]),
        (web(timeout=float("nan")), "attributes/timeout", ["whole number"]),
        (web(timeout=10**100), "attributes/timeout", ["from 1 to 200"]),
        (
            web(response_variables={"temp": "temperature"}),
            "attributes/response-variables",
            ["list"],
        ),
        (
            web(response_variables=[{"name": f"v{i}", "query": "q"} for i in range(101)]),
            "attributes/response-variables",
            ["at most 100"],
        ),
        (web(response_variables=["temp"]), "attributes/response-variables/0", ["object"]),
        (
            web(response_variables=[{"query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["name is required"],
        ),
        (
            web(response_variables=[{"name": "", "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["name is required"],
        ),
        (
            web(response_variables=[{"name": None, "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["name is required"],
        ),
        (
            web(response_variables=[{"name": "the temp", "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["letters, digits, - and _"],
        ),
        (
            web(response_variables=[{"name": "tempé", "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["letters, digits, - and _"],
        ),
        (
            web(response_variables=[{"name": 7, "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["letters, digits"],
        ),
        (
            web(response_variables=[{"name": "x" * 65, "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["at most 64"],
        ),
        (
            web(response_variables=[{"name": "1st", "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["{{ 1st }}"],
        ),
        (
            web(response_variables=[{"name": "count-1", "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["starts with a letter"],
        ),
        (
            web(response_variables=[{"name": "true", "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["reserved"],
        ),
        (
            web(response_variables=[{"name": "loop", "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["reserved"],
        ),
        (
            web(response_variables=[{"name": "_temp", "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["{{ _temp }}"],
        ),
        (
            web(response_variables=[{"name": "temp-", "query": "temperature"}]),
            "attributes/response-variables/0/name",
            ["{{ temp- }}"],
        ),
        (
            web(response_variables=[{"name": "temp"}]),
            "attributes/response-variables/0/query",
            ["non-empty string"],
        ),
        (
            web(response_variables=[{"name": "temp", "query": "a..b"}]),
            "attributes/response-variables/0/query",
            ["empty step"],
        ),
        (
            web(response_variables=[{"name": "temp", "query": "q" * 256}]),
            "attributes/response-variables/0/query",
            ["at most 255"],
        ),
        (
            web(response_variables=[{"name": "t", "query": "a"}, {"name": "t", "query": "b"}]),
            "attributes/response-variables/1/name",
            ["'t'", "twice"],
        ),
        (
            web(response_variables=[{"name": "t", "query": "a", "path": "a"}]),
            "attributes/response-variables/0/path",
            ["'path'", "name, query"],
        ),
        (web(variable="temp"), "attributes/variable", ["split"]),
        (web(rules=RULES), "attributes/rules", ["split"]),
    ],
)
def test_a_web_call_is_refused_at_the_member(
    given: dict[str, Any], at: str, words: list[str]
) -> None:
    with pytest.raises(InvalidAttribute) as raised:
        web_call_settings(given)
    assert (raised.value.at, raised.value.status) == (at, 400)
    for word in words:
        assert word in raised.value.detail


def test_every_bad_response_variable_is_answered_at_once() -> None:
    given = web(
        response_variables=[
            {"name": "ok", "query": "a"},
            {"name": "1st", "query": ""},
            {"query": "b", "extra": 1},
            {"name": "ok", "query": "c"},
        ]
    )
    assert [error.at for error in refusals(lambda: web_call_settings(given))] == [
        "attributes/response-variables/1/name",
        "attributes/response-variables/1/query",
        "attributes/response-variables/2/extra",
        "attributes/response-variables/2/name",
        "attributes/response-variables/3/name",
    ]


def test_problems_in_several_attributes_are_answered_together() -> None:
    given = {"method": "FETCH", "timeout": 0, "headers": {"Host": "x"}, "body": 5}
    assert sorted(error.at for error in refusals(lambda: web_call_settings(given))) == [
        "attributes/body",
        "attributes/headers/Host",
        "attributes/method",
        "attributes/timeout",
        "attributes/url",
    ]


@pytest.mark.parametrize(
    ("given", "at"),
    [
        (web(response_variables=[{"name": "t", "query": "q"}] * 100_000), "response-variables"),
        (web(headers={f"X-{index}": "v" for index in range(100_000)}), "headers"),
        (web(url="https://a.example/" + "{{ x }}" * 100_000), "url"),
        (web(body="{{ x }}" * 100_000), "body"),
    ],
    ids=["response-variables", "headers", "url", "body"],
)
def test_a_huge_input_is_one_refusal_before_its_members_are_read(
    given: dict[str, Any], at: str
) -> None:
    assert [error.at for error in refusals(lambda: web_call_settings(given))] == [
        f"attributes/{at}"
    ]


def test_unknown_members_are_named_up_to_a_bound() -> None:
    given = web(basic_auth={**BASIC, **{f"x{index}": 1 for index in range(10_000)}})
    found = refusals(lambda: web_call_settings(given))
    assert [error.at for error in found] == [
        f"attributes/basic-auth/x{index}" for index in range(MAX_UNKNOWN_NAMED)
    ]


def test_a_hundred_bad_response_variables_are_a_hundred_errors_each_at_its_item() -> None:
    given = web(response_variables=[{"name": "1st", "query": "q"}] * MAX_RESPONSE_VARIABLES)
    found = refusals(lambda: web_call_settings(given))
    assert [error.at for error in found] == [
        f"attributes/response-variables/{index}/name" for index in range(MAX_RESPONSE_VARIABLES)
    ]


@pytest.mark.parametrize(
    ("given", "secrets", "basic_auth", "oauth"),
    [
        (web(basic_auth=BASIC), {BASIC_AUTH_PASSWORD: "s3cret-pw"}, {"username": "hotel"}, None),
        (
            web(oauth2=OAUTH),
            {OAUTH2_CLIENT_SECRET: "s3cret-client"},
            None,
            {"token-url": OAUTH["token-url"], "client-id": "crm-client", "scope": "contacts.read"},
        ),
        (web(), {}, None, None),
    ],
    ids=["basic-auth", "oauth2", "neither"],
)
def test_secrets_are_split_out_of_the_settings(
    given: dict[str, Any],
    secrets: dict[str, str],
    basic_auth: dict[str, str] | None,
    oauth: dict[str, str] | None,
) -> None:
    settings, found = web_call_settings(given)
    assert found == secrets
    assert (settings["basic-auth"], settings["oauth2"]) == (basic_auth, oauth)
    for text in (json.dumps(settings), json.dumps(shown("web-call", settings))):
        assert not any(secret in text for secret in SECRETS)


def stored_with(**changes: Any) -> tuple[dict[str, Any], dict[str, str]]:
    return web_call_settings(with_(WEATHER, **changes))


# (stored as created from, PATCH, expected settings changes, expected secrets)
PATCHES = [
    (
        {"basic_auth": BASIC},
        {"timeout": 20},
        {"timeout": 20, "basic-auth": {"username": "hotel"}},
        {BASIC_AUTH_PASSWORD: "s3cret-pw"},
    ),
    (
        {"basic_auth": BASIC},
        {"basic-auth": {"username": "front-desk"}},
        {"basic-auth": {"username": "front-desk"}},
        {BASIC_AUTH_PASSWORD: "s3cret-pw"},
    ),
    (
        {"basic_auth": BASIC},
        {"basic-auth": {"username": "hotel", "password": "new-pw"}},
        {},
        {BASIC_AUTH_PASSWORD: "new-pw"},
    ),
    ({"basic_auth": BASIC}, {"basic-auth": None}, {"basic-auth": None}, {}),
    (
        {"basic_auth": BASIC},
        {"basic-auth": None, "oauth2": OAUTH},
        {"basic-auth": None, "oauth2": OAUTH_SHOWN},
        {OAUTH2_CLIENT_SECRET: "s3cret-client"},
    ),
    (
        {"oauth2": OAUTH},
        {"oauth2": {"token-url": OAUTH["token-url"], "client-id": "other", "scope": None}},
        {"oauth2": {"token-url": OAUTH["token-url"], "client-id": "other", "scope": None}},
        {OAUTH2_CLIENT_SECRET: "s3cret-client"},
    ),
    (
        {"oauth2": OAUTH},
        {"oauth2": {**OAUTH, "token-url": "https://new.example/token", "client-secret": "n"}},
        {"oauth2": {**OAUTH_SHOWN, "token-url": "https://new.example/token"}},
        {OAUTH2_CLIENT_SECRET: "n"},
    ),
    ({"oauth2": OAUTH}, {"oauth2": None}, {"oauth2": None}, {}),
    (
        {"method": "POST", "body": "x", "content_type": "text/plain"},
        {"method": None, "body": None, "content-type": None, "headers": None},
        {"method": "GET", "body": None, "content-type": None, "headers": {}},
        {},
    ),
    ({}, {"url": "https://other.example/{{ id }}"}, {"url": "https://other.example/{{ id }}"}, {}),
    ({}, {"response-variables": []}, {"response-variables": []}, {}),
]


@pytest.mark.parametrize(("created", "patch", "changes", "secrets"), PATCHES)
def test_a_patch_merges_over_the_stored_settings_and_keeps_secrets_not_given(
    created: dict[str, Any],
    patch: dict[str, Any],
    changes: dict[str, Any],
    secrets: dict[str, str],
) -> None:
    stored, stored_secrets = stored_with(**created)
    settings, found = web_call_settings(patch, stored, stored_secrets)
    assert settings == {**stored, **changes}
    assert found == secrets


@pytest.mark.parametrize(
    "created",
    [{"basic_auth": BASIC}, {"oauth2": OAUTH}, {}],
    ids=["basic-auth", "oauth2", "no-auth"],
)
def test_patching_back_what_was_shown_changes_nothing(created: dict[str, Any]) -> None:
    stored, stored_secrets = stored_with(**created)
    assert web_call_settings(shown("web-call", stored), stored, stored_secrets) == (
        stored,
        stored_secrets,
    )


@pytest.mark.parametrize(
    ("created", "stored_secrets", "patch", "at", "words"),
    [
        (
            {"basic_auth": BASIC},
            {},
            {"timeout": 20},
            "attributes/basic-auth/password",
            ["none is stored"],
        ),
        (
            {"basic_auth": BASIC},
            None,
            {"basic-auth": {"password": "new-pw"}},
            "attributes/basic-auth/username",
            ["required"],
        ),
        (
            {"oauth2": OAUTH},
            {},
            {"oauth2": {"token-url": OAUTH["token-url"], "client-id": "c"}},
            "attributes/oauth2/client-secret",
            ["none is stored"],
        ),
        (
            {"oauth2": OAUTH},
            {OAUTH2_CLIENT_SECRET: "s3cret-client"},
            {"oauth2": {"token-url": "https://evil.example/token", "client-id": "c"}},
            "attributes/oauth2/client-secret",
            ["token-url changes"],
        ),
        ({"basic_auth": BASIC}, None, {"oauth2": OAUTH}, "attributes/oauth2", ["not both"]),
        (
            {"oauth2": OAUTH},
            None,
            {"basic-auth": BASIC},
            "attributes/basic-auth",
            ["not both", "null"],
        ),
        ({}, None, {"url": None}, "attributes/url", ["url is required"]),
        ({}, None, {"timeout": 0}, "attributes/timeout", ["from 1 to 200"]),
        (
            {"basic_auth": BASIC},
            None,
            {"headers": {"Authorization": "Basic x"}},
            "attributes/headers/Authorization",
            ["basic-auth"],
        ),
    ],
    ids=[
        "stored-password-lost",
        "basic-auth-password-without-its-username",
        "stored-client-secret-lost",
        "token-url-moved-without-its-secret",
        "oauth2-beside-stored-basic-auth",
        "basic-auth-beside-stored-oauth2",
        "url-removed",
        "timeout-zero",
        "authorization-header-beside-stored-basic-auth",
    ],
)
def test_a_patch_is_refused_at_the_member(
    created: dict[str, Any],
    stored_secrets: dict[str, str] | None,
    patch: dict[str, Any],
    at: str,
    words: list[str],
) -> None:
    stored, created_secrets = stored_with(**created)
    kept = created_secrets if stored_secrets is None else stored_secrets
    with pytest.raises(InvalidAttribute) as raised:
        web_call_settings(patch, stored, kept)
    assert raised.value.at == at
    for word in words:
        assert word in raised.value.detail


def test_the_settings_do_not_share_the_given_objects() -> None:
    given = web(
        headers={"X-A": "1"},
        basic_auth=dict(BASIC),
        response_variables=[{"name": "t", "query": "q"}],
    )
    settings, _ = web_call_settings(given)
    given["headers"]["X-B"] = "2"
    given["response-variables"][0]["name"] = "changed"
    given["basic-auth"]["username"] = "changed"
    assert settings["headers"] == {"X-A": "1"}
    assert settings["response-variables"] == [{"name": "t", "query": "q"}]
    assert settings["basic-auth"] == {"username": "hotel"}


def test_shown_never_holds_a_secret_even_when_stored_settings_do() -> None:
    settings, _ = web_call_settings(web(basic_auth=BASIC))
    settings["basic-auth"] = {"username": "hotel", "password": "s3cret-pw"}
    settings["oauth2"] = {**OAUTH}
    found = shown("web-call", settings)
    assert found["basic-auth"] == {"username": "hotel"}
    assert found["oauth2"] == {
        "token-url": OAUTH["token-url"],
        "client-id": "crm-client",
        "scope": "contacts.read",
    }
    assert not any(secret in json.dumps(found) for secret in SECRETS)


def test_shown_dumps_each_kinds_settings() -> None:
    settings, _ = web_call_settings(WEATHER)
    assert shown("web-call", settings) == settings
    assert shown("split", split_settings(SPLIT)) == {"variable": "temp", "rules": RULES_STORED}
    assert shown("text", {}) == {}
    with pytest.raises(ValueError):
        shown("voice", {})


def test_shown_fills_defaults_of_settings_stored_before_an_attribute_existed() -> None:
    assert shown("web-call", {"url": URL})["timeout"] == web_calls.DEFAULT_TIMEOUT


def test_shown_is_a_copy() -> None:
    settings, _ = web_call_settings(WEATHER)
    shown("web-call", settings)["headers"]["X-B"] = "2"
    assert "X-B" not in settings["headers"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (SPLIT, {"variable": "temp", "rules": RULES_STORED}),
        (
            {
                "variable": "order-status",
                "rules": [{"category": " Shipped ", "test": "equals", "arguments": ["shipped"]}],
            },
            {
                "variable": "order-status",
                "rules": [{"category": "Shipped", "test": "equals", "arguments": ["shipped"]}],
            },
        ),
        (
            {
                "variable": "t",
                "rules": [{"category": "Any", "test": "has-number", "arguments": None}],
            },
            {
                "variable": "t",
                "rules": [{"category": "Any", "test": "has-number", "arguments": []}],
            },
        ),
        (
            {
                "variable": "v" * extraction.MAX_NAME_LENGTH,
                "rules": [
                    {"category": f"c{index}", "test": "has-text"} for index in range(MAX_RULES)
                ],
            },
            None,
        ),
        (
            {
                "variable": "t",
                "rules": [{"category": "c" * MAX_CATEGORY_LENGTH, "test": "has-text"}],
            },
            None,
        ),
        (
            {"variable": "t", "rules": [{"category": "Others", "test": "has-text"}]},
            None,
        ),
    ],
    ids=[
        "seed-temperatures",
        "category-trimmed",
        "arguments-null",
        "at-the-caps",
        "category-at-the-cap",
        "others-is-not-other",
    ],
)
def test_a_split_is_accepted(given: dict[str, Any], expected: dict[str, Any] | None) -> None:
    settings = split_settings(given)
    assert set(settings) == SPLIT_ATTRIBUTES
    if expected is not None:
        assert settings == expected


def rule(**changes: Any) -> dict[str, Any]:
    return {
        "variable": "temp",
        "rules": [with_({"category": "Yes", "test": "has-text"}, **changes)],
    }


@pytest.mark.parametrize(
    ("given", "at", "words"),
    [
        ({"rules": RULES}, "attributes/variable", ["variable is required"]),
        ({"variable": None, "rules": RULES}, "attributes/variable", ["variable is required"]),
        ({"variable": "", "rules": RULES}, "attributes/variable", ["letters, digits"]),
        ({"variable": 5, "rules": RULES}, "attributes/variable", ["letters, digits"]),
        ({"variable": "the temp", "rules": RULES}, "attributes/variable", ["letters, digits"]),
        ({"variable": "1st", "rules": RULES}, "attributes/variable", ["{{ 1st }}"]),
        ({"variable": "x" * 65, "rules": RULES}, "attributes/variable", ["at most 64"]),
        ({"variable": "temp"}, "attributes/rules", ["rules is required"]),
        ({"variable": "temp", "rules": []}, "attributes/rules", ["1 to 100"]),
        ({"variable": "temp", "rules": {"Yes": "has-text"}}, "attributes/rules", ["list"]),
        (
            {"variable": "temp", "rules": [{"category": "c", "test": "has-text"}] * 101},
            "attributes/rules",
            ["1 to 100"],
        ),
        ({"variable": "temp", "rules": ["Yes"]}, "attributes/rules/0", ["object"]),
        (rule(category=None), "attributes/rules/0/category", ["category is required"]),
        (rule(category=""), "attributes/rules/0/category", ["non-empty"]),
        (rule(category="   "), "attributes/rules/0/category", ["non-empty"]),
        (rule(category=7), "attributes/rules/0/category", ["string"]),
        (rule(category="c" * 65), "attributes/rules/0/category", ["at most 64"]),
        (rule(category="Other"), "attributes/rules/0/category", ["Other", "no rule matches"]),
        (rule(category="other"), "attributes/rules/0/category", ["Other"]),
        (rule(category=" OTHER "), "attributes/rules/0/category", ["Other"]),
        (rule(category="\uff2f\uff54\uff48\uff45\uff52"), "attributes/rules/0/category", ["Other"]),
        (
            {"variable": "t", "rules": [{"category": "Yes", "test": "has-text"},
                                        {"category": "YES ", "test": "has-number"}]},
            "attributes/rules/1/category",
            ["'YES'", "twice"],
        ),
        (rule(test="regex"), "attributes/rules/0/test", ["'regex'", "has-text", "number-between"]),
        (rule(test=None), "attributes/rules/0/test", ["not a test"]),
        (rule(test="Equals", arguments=["x"]), "attributes/rules/0/test", ["not a test"]),
        (rule(test=["equals"]), "attributes/rules/0/test", ["not a test"]),
        (rule(test="equals"), "attributes/rules/0/arguments", ["one argument, not 0"]),
        (rule(test="has-text", arguments=["x"]), "attributes/rules/0/arguments", ["no arguments"]),
        (rule(test="equals", arguments="yes"), "attributes/rules/0/arguments", ["list"]),
        (rule(test="equals", arguments=[1]), "attributes/rules/0/arguments", ["text arguments"]),
        (rule(test="number-lt", arguments=["ten"]), "attributes/rules/0/arguments", ["decimal"]),
        (
            rule(test="number-between", arguments=["10", "1"]),
            "attributes/rules/0/arguments",
            ["above"],
        ),
        (
            rule(test="contains-any", arguments=["!!"]),
            "attributes/rules/0/arguments",
            ["at least one word"],
        ),
        (
            rule(test="equals", arguments=["x" * (splits.MAX_ARGUMENT_CHARS + 1)]),
            "attributes/rules/0/arguments",
            ["longer than 1000"],
        ),
        (rule(tests="x"), "attributes/rules/0/tests", ["'tests'", "category, test, arguments"]),
        ({**SPLIT, "url": URL}, "attributes/url", ["web-call"]),
        ({**SPLIT, "response-variables": []}, "attributes/response-variables", ["web-call"]),
    ],
)  # fmt: skip
def test_a_split_is_refused_at_the_member(given: dict[str, Any], at: str, words: list[str]) -> None:
    with pytest.raises(InvalidAttribute) as raised:
        split_settings(given)
    assert (raised.value.at, raised.value.status) == (at, 400)
    for word in words:
        assert word in raised.value.detail


def test_every_bad_rule_is_answered_at_once() -> None:
    given = {
        "variable": "temp",
        "rules": [
            {"category": "Yes", "test": "has-text"},
            {"category": "yes", "test": "regex"},
            {"category": "Other", "test": "equals", "arguments": []},
            5,
        ],
    }
    assert [error.at for error in refusals(lambda: split_settings(given))] == [
        "attributes/rules/1/category",
        "attributes/rules/1/test",
        "attributes/rules/2/category",
        "attributes/rules/2/arguments",
        "attributes/rules/3",
    ]


def test_a_huge_rule_list_is_one_refusal() -> None:
    given = {"variable": "temp", "rules": [{"category": "c", "test": "x"}] * 100_000}
    assert [error.at for error in refusals(lambda: split_settings(given))] == ["attributes/rules"]


def test_a_split_with_nothing_is_refused_at_both_attributes() -> None:
    assert [error.at for error in refusals(lambda: split_settings({}))] == [
        "attributes/variable",
        "attributes/rules",
    ]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"variable": "winds"}, {"variable": "winds", "rules": RULES_STORED}),
        (
            {"rules": [{"category": "Any", "test": "has-text"}]},
            {
                "variable": "temp",
                "rules": [{"category": "Any", "test": "has-text", "arguments": []}],
            },
        ),
        ({}, {"variable": "temp", "rules": RULES_STORED}),
    ],
    ids=["variable", "rules", "nothing"],
)
def test_a_split_patch_merges_over_the_stored_settings(
    patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert split_settings(patch, split_settings(SPLIT)) == expected


def test_a_split_patch_cannot_remove_its_rules() -> None:
    with pytest.raises(InvalidAttribute) as raised:
        split_settings({"rules": None}, split_settings(SPLIT))
    assert raised.value.at == "attributes/rules"


CATEGORIES = ["Shipped", "Pending"]


@pytest.mark.parametrize(
    ("on_event", "category", "delay", "kind", "categories", "expected"),
    [
        ("web-call-success", None, None, "web-call", None, (steps.Event.WEB_CALL_SUCCESS, None, 0)),
        ("web-call-failure", None, 60, "web-call", None, (steps.Event.WEB_CALL_FAILURE, None, 60)),
        ("text-sent", None, 0, "text", None, (steps.Event.TEXT_SENT, None, 0)),
        ("text-delivered", None, MAX_DELAY_IN_SECONDS, "text", None,
         (steps.Event.TEXT_DELIVERED, None, 2_592_000)),
        ("text-failed", None, 30.0, "text", None, (steps.Event.TEXT_FAILED, None, 30)),
        ("split", "Shipped", None, "split", CATEGORIES, (steps.Event.SPLIT, "Shipped", 0)),
        ("split", "pending", 5, "split", CATEGORIES, (steps.Event.SPLIT, "Pending", 5)),
        ("split", "Other", None, "split", CATEGORIES, (steps.Event.SPLIT, "Other", 0)),
        ("split", "OTHER", None, "split", [], (steps.Event.SPLIT, splits.OTHER, 0)),
    ],
)  # fmt: skip
def test_a_trigger_is_accepted_and_normalised(
    on_event: object,
    category: object,
    delay: object,
    kind: str,
    categories: list[str] | None,
    expected: tuple[steps.Event, str | None, int],
) -> None:
    found = check_trigger(
        on_event=on_event,
        category=category,
        delay_in_seconds=delay,
        source_kind=kind,
        categories=categories,
    )
    assert found == expected
    assert isinstance(found[0], steps.Event) and type(found[2]) is int


@pytest.mark.parametrize(
    ("on_event", "category", "delay", "kind", "at", "words"),
    [
        ("text-sent", None, 0, "web-call", "attributes/on-event",
         ["'text-sent'", "web-call-failure, web-call-success"]),
        ("web-call-success", None, 0, "text", "attributes/on-event",
         ["text-delivered, text-failed, text-reply, text-sent, text-undelivered"]),
        ("split", None, 0, "web-call", "attributes/on-event", ["web-call activity"]),
        ("text-sent", None, 0, "split", "attributes/on-event", ["use one of split"]),
        ("Text-Sent", None, 0, "text", "attributes/on-event", ["not an event"]),
        ("sent", None, 0, "text", "attributes/on-event", ["not an event"]),
        (None, None, 0, "text", "attributes/on-event", ["on-event is required"]),
        (7, None, 0, "text", "attributes/on-event", ["not an event"]),
        ("split", None, 0, "split", "attributes/category",
         ["required", "'Shipped', 'Pending', 'Other'"]),
        ("split", "", 0, "split", "attributes/category", ["required"]),
        ("split", 3, 0, "split", "attributes/category", ["required"]),
        ("split", "Lost", 0, "split", "attributes/category", ["'Lost'", "'Shipped'"]),
        ("split", "Others", 0, "split", "attributes/category", ["not a category"]),
        ("web-call-success", "Shipped", 0, "web-call", "attributes/category",
         ["only for on-event split"]),
        ("text-sent", "", 0, "text", "attributes/category", ["only for on-event split"]),
        ("text-sent", None, -1, "text", "attributes/delay-in-seconds", ["0 to 2592000"]),
        ("text-sent", None, MAX_DELAY_IN_SECONDS + 1, "text", "attributes/delay-in-seconds",
         ["30 days"]),
        ("text-sent", None, True, "text", "attributes/delay-in-seconds", ["whole number"]),
        ("text-sent", None, False, "text", "attributes/delay-in-seconds", ["whole number"]),
        ("text-sent", None, 1.5, "text", "attributes/delay-in-seconds", ["whole number"]),
        ("text-sent", None, "60", "text", "attributes/delay-in-seconds", ["whole number"]),
        ("text-sent", None, 10**400, "text", "attributes/delay-in-seconds", ["whole number"]),
    ],
)  # fmt: skip
def test_a_trigger_is_refused_at_the_member(
    on_event: object, category: object, delay: object, kind: str, at: str, words: list[str]
) -> None:
    categories = CATEGORIES if kind == "split" else None
    with pytest.raises(InvalidAttribute) as raised:
        check_trigger(
            on_event=on_event,
            category=category,
            delay_in_seconds=delay,
            source_kind=kind,
            categories=categories,
        )
    assert (raised.value.at, raised.value.status) == (at, 400)
    for word in words:
        assert word in raised.value.detail


def test_a_trigger_with_several_problems_names_each() -> None:
    found = refusals(
        lambda: check_trigger(
            on_event="nope",
            category=None,
            delay_in_seconds=-5,
            source_kind="text",
            categories=None,
        )
    )
    assert [error.at for error in found] == ["attributes/on-event", "attributes/delay-in-seconds"]


@pytest.mark.parametrize(
    ("kind", "categories"),
    [("voice", None), ("split", None)],
    ids=["unknown-kind", "split-without-its-categories"],
)
def test_a_trigger_checked_without_what_it_needs_is_a_programming_error(
    kind: str, categories: list[str] | None
) -> None:
    with pytest.raises(ValueError):
        check_trigger(
            on_event="split",
            category="Other",
            delay_in_seconds=0,
            source_kind=kind,
            categories=categories,
        )


def test_the_stored_settings_build_the_web_call_its_runs_make() -> None:
    settings, secrets = web_call_settings(
        with_(
            WEATHER,
            method="post",
            timeout=30,
            basic_auth=BASIC,
            content_type="application/json",
            body='{"guest": "{{ first-name }}"}',
        )
    )
    call = web_call_of(settings, secrets)
    assert call == web_calls.WebCall(
        url=URL,
        method="POST",
        headers={"User-Agent": "(hotel.example, desk@hotel.example)"},
        basic_auth=("hotel", "s3cret-pw"),
        content_type="application/json",
        body='{"guest": "{{ first-name }}"}',
        timeout=30,
    )
    request = web_calls.build_request(call, {"first-name": "Ann"}, idempotency_key="env:1")
    assert (request.url, request.body) == (URL, b'{"guest": "Ann"}')
    assert oauth2_client_of(settings, secrets) is None


def test_the_stored_settings_build_the_oauth2_client() -> None:
    settings, secrets = web_call_settings(web(oauth2=OAUTH))
    assert oauth2_client_of(settings, secrets) == oauth2.Client(
        token_url="https://auth.example/token",
        client_id="crm-client",
        client_secret="s3cret-client",
        scope="contacts.read",
    )
    assert web_call_of(settings, secrets).basic_auth is None


@pytest.mark.parametrize(
    ("build", "auth"),
    [(web_call_of, {"basic_auth": BASIC}), (oauth2_client_of, {"oauth2": OAUTH})],
    ids=["basic-auth", "oauth2"],
)
def test_building_without_the_stored_secret_is_refused(
    build: Callable[[dict[str, Any], dict[str, str]], object], auth: dict[str, Any]
) -> None:
    settings, _ = stored_with(**auth)
    with pytest.raises(ValueError):
        build(settings, {})


def test_the_stored_response_variables_read_the_seed_forecast() -> None:
    settings, _ = web_call_settings(WEATHER)
    wanted = response_variables_of(settings)
    assert wanted == [
        extraction.ResponseVariable("temp", "temperature"),
        extraction.ResponseVariable("winds", "windSpeed"),
        extraction.ResponseVariable("forecast", "detailedForecast"),
    ]
    answer = json.dumps(
        {"properties": {"periods": [{"temperature": 84, "windSpeed": "14 mph",
                                     "detailedForecast": "Mostly sunny."}]}}
    ).encode()  # fmt: skip
    assert extraction.extract(answer, wanted, max_value_bytes=1024) == {
        "temp": "84",
        "winds": "14 mph",
        "forecast": "Mostly sunny.",
    }


def test_the_stored_split_categorises_with_its_rules() -> None:
    variable, rules = split_of(split_settings(SPLIT))
    assert variable == "temp"
    assert rules == [
        splits.Rule("Hot", "number-gte", ("80",)),
        splits.Rule("Mild", "number-between", ("60", "79.5")),
        splits.Rule("Unknown", "has-text"),
    ]
    assert [splits.categorise(value, rules) for value in ("84", 70, "cold", None)] == [
        "Hot",
        "Mild",
        "Unknown",
        splits.OTHER,
    ]
