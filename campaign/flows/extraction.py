"""Response variables: the values a web call's JSON answer gives a run (pure: no I/O).

A `web-call` activity lists `response-variables` `[{name, query}]`. A query is either

- a dot path into the answer (`properties.periods.0.temperature`): object keys and array
  indices, exact and case-sensitive; or
- a bare property label (`temperature`, no dot), matched exactly and case-sensitively, which
  takes the first property of that name found depth-first: an object's members in the order the
  answer wrote them, each member's value searched before the next member is looked at, arrays in
  order. This is how SmartFlows' "exact property labels" find `temperature`, `windSpeed` and
  `detailedForecast` in a National Weather Service forecast.

With no response variables, every top-level scalar member of a JSON object answer becomes a
variable of its own name (TextIt's webhook variable injection); a body that is not a JSON object
then gives no variables and is no failure, since none were asked for.

Values are text, as TextIt keeps run results: a string as itself, a number as the answer wrote
it (`84` stays `84`, `84.50` stays `84.50`, never `84.0`), `true`/`false`, and an object or array
as its compact JSON. A query that finds nothing, finds `null`, or a value longer than
`max_value_bytes` (the meta limit, so a run's variables stay within what an envelope may carry)
fails the call with the reason, rather than texting a recipient a hole: "It's currently  F".

The answer was already cut at the call's cap (1 MiB); the search is iterative, so nesting depth
cannot exhaust the stack, and the stdlib decoder's own recursion limit is caught as a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# A variable name: the same bound as a meta key (services/envelope_input.py).
MAX_NAME_LENGTH = 64
MAX_QUERY_LENGTH = 255
# How many variables one answer may inject when none are named (the rest are left out).
MAX_INJECTED = 100


@dataclass(frozen=True)
class ResponseVariable:
    name: str
    query: str


class ExtractionFailed(Exception):
    """The answer cannot give the variables asked for; `reason` says why (kept on the run)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Number(str):
    """A JSON number as the answer wrote it."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_answer(body: bytes) -> Any:
    """The JSON value of `body`, numbers kept as written; ExtractionFailed when it is none."""
    try:
        return json.loads(
            body.decode("utf-8"),
            parse_int=_Number,
            parse_float=_Number,
            parse_constant=_refuse_constant,
        )
    except UnicodeDecodeError:
        raise ExtractionFailed("the answer is not UTF-8 text") from None
    except RecursionError:
        raise ExtractionFailed("the answer nests too deeply to read") from None
    except ValueError as exc:
        raise ExtractionFailed(f"the answer is not JSON ({str(exc)[:80]})") from None


def bad_query(query: object) -> str | None:
    """Why `query` cannot be a query (for a 400 on the activity), or None."""
    if not isinstance(query, str) or not query:
        return "a query is a non-empty string: a dot path or a property label"
    if len(query) > MAX_QUERY_LENGTH:
        return f"a query is at most {MAX_QUERY_LENGTH} characters"
    if "." in query and "" in query.split("."):
        return f"{query!r} has an empty step; write a.b.0.c"
    return None


def extract(
    body: bytes, wanted: Sequence[ResponseVariable], *, max_value_bytes: int
) -> dict[str, str]:
    """The variables the answer `body` gives: those `wanted`, or its top-level scalars."""
    if not wanted:
        return _injected(body, max_value_bytes)
    answer = parse_answer(body)
    found: dict[str, str] = {}
    for variable in wanted:
        value = _lookup(answer, variable.query)
        if value is None:
            raise ExtractionFailed(f"the answer has no value for {variable.query!r}")
        found[variable.name] = _text(value, variable.name, max_value_bytes)
    return found


def _injected(body: bytes, max_value_bytes: int) -> dict[str, str]:
    try:
        answer = parse_answer(body)
    except ExtractionFailed:
        return {}
    if not isinstance(answer, dict):
        return {}
    found: dict[str, str] = {}
    for name, value in answer.items():
        if len(found) == MAX_INJECTED:
            break
        if not name or len(name) > MAX_NAME_LENGTH or isinstance(value, dict | list):
            continue
        if value is None:
            continue
        text = _scalar_text(value)
        if len(text.encode()) <= max_value_bytes:
            found[name] = text
    return found


def _lookup(answer: Any, query: str) -> Any:
    if "." in query:
        return _at_path(answer, query.split("."))
    return next(_labelled(answer, query), None)


def _at_path(answer: Any, steps: list[str]) -> Any:
    value = answer
    for step in steps:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isascii() and step.isdecimal():
            index = int(step)
            value = value[index] if index < len(value) else None
        else:
            return None
        if value is None:
            return None
    return value


def _labelled(answer: Any, label: str) -> Iterator[Any]:
    """Values of members called `label`, depth-first in the answer's order."""
    # Each entry is an iterator over one container's children still to be visited.
    stack: list[Iterator[tuple[str | None, Any]]] = [iter([(None, answer)])]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        name, value = entry
        if name == label and value is not None:
            yield value
            return
        if isinstance(value, dict):
            stack.append(iter(value.items()))
        elif isinstance(value, list):
            stack.append((None, item) for item in value)


def _scalar_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _compact(value: Any) -> str:
    """Compact JSON of a found object or array, its numbers as the answer wrote them."""
    if isinstance(value, dict):
        members = (
            f"{json.dumps(key, ensure_ascii=False)}:{_compact(item)}" for key, item in value.items()
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_compact(item) for item in value) + "]"
    if isinstance(value, _Number) or value is None or isinstance(value, bool):
        return "null" if value is None else _scalar_text(value)
    return json.dumps(value, ensure_ascii=False)


def _text(value: Any, name: str, max_value_bytes: int) -> str:
    if isinstance(value, dict | list):
        try:
            text = _compact(value)
        except RecursionError:
            raise ExtractionFailed(f"the value for {name!r} nests too deeply") from None
    else:
        text = _scalar_text(value)
    if len(text.encode()) > max_value_bytes:
        raise ExtractionFailed(f"the value for {name!r} is longer than {max_value_bytes} bytes")
    return text
