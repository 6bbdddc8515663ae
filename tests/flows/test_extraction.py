"""campaign/flows/extraction.py: response variables from a web call's JSON answer, table-driven:
dot paths, depth-first labels (the seed's weather forecast), injection without queries, numbers
as written, and every way an answer fails to give what was asked."""

from __future__ import annotations

import json

import pytest

from campaign.flows.extraction import (
    MAX_INJECTED,
    ExtractionFailed,
    ResponseVariable,
    bad_query,
    extract,
)

LIMIT = 4096

# The shape of api.weather.gov/gridpoints/MFL/109,62/forecast (the SmartFlows seed's sample).
FORECAST = b"""{
  "@context": ["https://geojson.org/geojson-ld/geojson-context.jsonld", {"@version": "1.1"}],
  "type": "Feature",
  "geometry": {"type": "Polygon", "coordinates": [[[-80.2, 25.7], [-80.2, 25.8]]]},
  "properties": {
    "updated": "2026-12-03T10:00:00+00:00",
    "units": "us",
    "periods": [
      {"number": 1, "name": "Today", "temperature": 84, "temperatureUnit": "F",
       "windSpeed": "14 mph", "windDirection": "SE",
       "probabilityOfPrecipitation": {"unitCode": "wmoUnit:percent", "value": 30},
       "detailedForecast": "A chance of showers and thunderstorms after 4pm. Mostly sunny."},
      {"number": 2, "name": "Tonight", "temperature": 75, "temperatureUnit": "F",
       "windSpeed": "9 mph", "detailedForecast": "Partly cloudy."}
    ]
  }
}"""


def wanted(**queries: str) -> list[ResponseVariable]:
    return [ResponseVariable(name, query) for name, query in queries.items()]


def test_the_seed_sample_finds_its_three_labels_in_the_first_period() -> None:
    variables = extract(
        FORECAST,
        wanted(temp="temperature", winds="windSpeed", forecast="detailedForecast"),
        max_value_bytes=LIMIT,
    )
    assert variables == {
        "temp": "84",
        "winds": "14 mph",
        "forecast": "A chance of showers and thunderstorms after 4pm. Mostly sunny.",
    }


@pytest.mark.parametrize(
    ("body", "query", "value"),
    [
        (FORECAST, "properties.periods.0.temperature", "84"),
        (FORECAST, "properties.periods.1.temperature", "75"),
        (FORECAST, "properties.periods.1.name", "Tonight"),
        (FORECAST, "properties.units", "us"),
        (FORECAST, "geometry.type", "Polygon"),
        (FORECAST, "@context.1.@version", "1.1"),
        (b'{"a": {"b": [10, {"c": true}]}}', "a.b.1.c", "true"),
        (b'{"a": {"b": false}}', "a.b", "false"),
        (b'{"price": 84.50}', "price", "84.50"),
        (b'{"price": -0.0}', "price", "-0.0"),
        (b'{"n": 1e3}', "n", "1e3"),
        (b'{"n": 12345678901234567890123}', "n", "12345678901234567890123"),
        (b'{"city": "Montr\\u00e9al"}', "city", "Montréal"),
        (b'{"a": {"b": [1, 2.50, "x"]}}', "a.b", '[1,2.50,"x"]'),
        (b'{"a": {"b": {"c": 1, "d": null}}}', "a.b", '{"c":1,"d":null}'),
    ],
    ids=[
        "path",
        "path-second-item",
        "path-string",
        "path-shallow",
        "path-not-the-label-first-found",
        "path-through-array-into-object",
        "path-to-true",
        "path-to-false",
        "decimal-as-written",
        "negative-zero-as-written",
        "exponent-as-written",
        "big-integer-exact",
        "unicode-escape",
        "array-as-compact-json",
        "object-as-compact-json",
    ],
)
def test_a_query_gives_the_value_as_the_answer_wrote_it(
    body: bytes, query: str, value: str
) -> None:
    assert extract(body, wanted(v=query), max_value_bytes=LIMIT) == {"v": value}


@pytest.mark.parametrize(
    ("body", "label", "value"),
    [
        # Depth-first: the first member's subtree is searched before the next member.
        (b'{"a": {"x": 1}, "x": 2}', "x", "1"),
        (b'{"x": 2, "a": {"x": 1}}', "x", "2"),
        (b'[{"y": 0}, {"x": "in the second item"}]', "x", "in the second item"),
        (b'{"a": [[{"x": "deep"}]], "x": "shallow"}', "x", "deep"),
        # A null member is passed over for the next one of that name.
        (b'{"x": null, "b": {"x": "found"}}', "x", "found"),
        # Exact and case-sensitive.
        (b'{"Temperature": 1, "b": {"temperature": 2}}', "temperature", "2"),
        (b'{"temp": 1, "b": {"temperature": 2}}', "temperature", "2"),
    ],
    ids=[
        "nested-before-later-sibling",
        "earlier-sibling-first",
        "array-items-in-order",
        "nested-arrays",
        "null-passed-over",
        "case-sensitive",
        "exact-name",
    ],
)
def test_a_label_takes_the_first_property_of_that_name_depth_first(
    body: bytes, label: str, value: str
) -> None:
    assert extract(body, wanted(v=label), max_value_bytes=LIMIT) == {"v": value}


def test_deep_nesting_does_not_exhaust_the_search() -> None:
    depth = 900
    body = ("[" * depth + '{"x": "bottom"}' + "]" * depth).encode()
    assert extract(body, wanted(v="x"), max_value_bytes=LIMIT) == {"v": "bottom"}


@pytest.mark.parametrize(
    ("body", "query", "reason"),
    [
        (FORECAST, "humidity", "no value for 'humidity'"),
        (FORECAST, "properties.periods.7.temperature", "no value"),
        (FORECAST, "properties.periods.-1.temperature", "no value"),
        (FORECAST, "properties.periods.first.temperature", "no value"),
        (FORECAST, "properties.units.0", "no value"),
        (b'{"x": null}', "x", "no value"),
        (b"<html>Bad gateway</html>", "x", "not JSON"),
        (b"", "x", "not JSON"),
        (b'{"x": NaN}', "x", "not JSON"),
        (b'{"x": Infinity}', "x", "not JSON"),
        (b'{"x": 1', "x", "not JSON"),
        (b'{"x": "\xff"}', "x", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "x", "nests too deeply"),
        (b'{"x": "' + b"a" * (LIMIT + 1) + b'"}', "x", "longer than 4096 bytes"),
        (b'{"x": ["' + b"a" * LIMIT + b'"]}', "x", "longer than 4096 bytes"),
    ],
    ids=[
        "missing-label",
        "index-past-the-end",
        "negative-index",
        "word-index",
        "step-into-a-string",
        "null",
        "html",
        "empty",
        "nan",
        "infinity",
        "truncated",
        "not-utf8",
        "too-deep",
        "value-too-long",
        "compact-value-too-long",
    ],
)
def test_an_answer_that_cannot_give_a_variable_fails_with_the_reason(
    body: bytes, query: str, reason: str
) -> None:
    with pytest.raises(ExtractionFailed) as caught:
        extract(body, wanted(v=query), max_value_bytes=LIMIT)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("body", "variables"),
    [
        (
            b'{"status": "shipped", "eta": 3, "paid": true, "rate": 4.50, "items": [1], '
            b'"customer": {"name": "Ann"}, "note": null}',
            {"status": "shipped", "eta": "3", "paid": "true", "rate": "4.50"},
        ),
        (b'[{"status": "shipped"}]', {}),
        (b'"shipped"', {}),
        (b"not json at all", {}),
        (b"", {}),
        (b'{"": "nameless", "' + b"k" * 65 + b'": "long name", "ok": "kept"}', {"ok": "kept"}),
        (b'{"big": "' + b"a" * (LIMIT + 1) + b'", "small": "b"}', {"small": "b"}),
    ],
    ids=[
        "top-level-scalars-only",
        "array-answer",
        "string-answer",
        "not-json",
        "empty",
        "unusable-names-left-out",
        "oversized-values-left-out",
    ],
)
def test_without_queries_the_top_level_scalars_become_variables(
    body: bytes, variables: dict[str, str]
) -> None:
    assert extract(body, [], max_value_bytes=LIMIT) == variables


def test_injection_is_bounded_in_count() -> None:
    body = json.dumps({f"k{index}": index for index in range(MAX_INJECTED + 50)}).encode()
    variables = extract(body, [], max_value_bytes=LIMIT)
    assert len(variables) == MAX_INJECTED
    assert list(variables)[:2] == ["k0", "k1"]


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("temperature", None),
        ("properties.periods.0.temperature", None),
        ("@context", None),
        ("", "non-empty string"),
        (None, "non-empty string"),
        (5, "non-empty string"),
        ("a..b", "empty step"),
        (".a", "empty step"),
        ("a.", "empty step"),
        ("a" * 256, "at most 255"),
    ],
)
def test_bad_query_says_why_a_query_is_unusable(query: object, problem: str | None) -> None:
    found = bad_query(query)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
