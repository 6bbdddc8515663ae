"""Test HTTP Request (SmartFlows' button): a web-call activity's call made once with sample
variables, through the same executor and SSRF guard as a run's, creating no run and changing
nothing. What it answers never holds a secret: the request is shown masked, and the password,
client-secret and any bearer token are masked wherever the answer echoes them.

Two steps, so that the view can give the database connection back in between: `prepare` reads
the activity (the only database work), `make` calls (up to the activity's timeout, 200 s at most).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from campaign.errors import ApiError, ApiErrors, Conflict, InvalidAttribute, pointer_to
from campaign.flows import definitions
from campaign.flows.oauth2 import Client, Token, TokenCache
from campaign.flows.web_calls import MASK
from campaign.models import Activity, ActivityKind, new_id, utcnow
from campaign.services.envelope_input import MAX_META_KEY_LENGTH, MAX_META_NUMBER
from campaign.workers.web_calls import Call, WebCaller

VARIABLES = "attributes/variables"
_VALUE_TYPES = (str, int, float, bool)


@dataclass(frozen=True)
class PreparedTest:
    """Everything the call needs, read from the activity: no ORM object is held past it."""

    id: str
    activity_id: str
    call: Call
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class WebCallTest:
    """What one test request came to, as the `test-requests` resource shows it."""

    id: str
    activity_id: str
    created_at: datetime
    request: dict[str, Any] | None
    response: dict[str, Any] | None
    variables: dict[str, Any]
    success: bool
    reason: str | None


class _RememberedTokens(TokenCache):
    """A token cache that also remembers every token fetched through it, to mask them."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []

    def put(self, client: Client, token: Token) -> None:
        self.fetched.append(token.access_token)
        super().put(client, token)


def prepare(activity: Activity, variables: Any, *, max_meta_bytes: int) -> PreparedTest:
    """The call a test of `activity` makes with the sample `variables`; 409 for an activity
    that makes no call, 400 at the variable for a sample no envelope's meta could hold."""
    if activity.kind != ActivityKind.WEB_CALL:
        raise Conflict(
            f"only web-call activities make a request to test; this one is a {activity.kind}"
        )
    sample = _sample(variables, max_meta_bytes)
    settings, stored = dict(activity.settings or {}), dict(activity.secrets or {})
    web_call = definitions.web_call_of(settings, stored)
    secrets = [value for value in stored.values() if value]
    if web_call.basic_auth is not None:
        pair = f"{web_call.basic_auth[0]}:{web_call.basic_auth[1]}".encode()
        secrets.append(base64.b64encode(pair).decode("ascii"))
    test_id = new_id()
    call = Call(
        key=f"test:{activity.id}:{test_id}",
        call=web_call,
        variables=sample,
        oauth2=definitions.oauth2_client_of(settings, stored),
        wanted=definitions.response_variables_of(settings),
    )
    return PreparedTest(test_id, activity.id, call, tuple(secrets))


def make(
    prepared: PreparedTest, *, allow_hosts: frozenset[str], max_value_bytes: int
) -> WebCallTest:
    """Make the prepared call once (one connection, the SSRF guard, its own timeout)."""
    tokens = _RememberedTokens()
    caller = WebCaller(
        allow_hosts=allow_hosts,
        per_host=1,
        token_cache=tokens,
        max_value_bytes=max_value_bytes,
    )
    created_at = utcnow()
    try:
        [result] = caller.call_many([prepared.call])
    finally:
        caller.close()
    secrets = (*prepared.secrets, *tokens.fetched)
    response = None
    if result.status is not None:
        response = {
            "status": result.status,
            "headers": {name: _masked(value, secrets) for name, value in result.headers.items()},
            "body": _masked(result.body.decode("utf-8", errors="replace"), secrets),
        }
    return WebCallTest(
        id=prepared.id,
        activity_id=prepared.activity_id,
        created_at=created_at,
        request=_masked_value(result.request, secrets),
        response=response,
        variables=_masked_value(result.variables, secrets),
        success=result.success,
        reason=_masked(result.reason, secrets) if result.reason is not None else None,
    )


def _sample(variables: Any, max_meta_bytes: int) -> dict[str, Any]:
    """The sample variables, bounded as an envelope's meta is: a flat object of strings,
    numbers and booleans, keys of 1 to 64 characters, at most CAMPAIGN_MAX_META_BYTES."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise InvalidAttribute("variables must be a JSON object of names to values", at=VARIABLES)
    errors: list[ApiError] = []
    for key, value in variables.items():
        at = pointer_to(VARIABLES, key)
        if not key or len(key) > MAX_META_KEY_LENGTH:
            errors.append(
                InvalidAttribute(f"names are 1 to {MAX_META_KEY_LENGTH} characters", at=at)
            )
        elif not isinstance(value, _VALUE_TYPES):
            errors.append(
                InvalidAttribute(
                    f"variables[{key!r}] must be a string, number or boolean (variables are flat)",
                    at=at,
                )
            )
        elif type(value) in (int, float) and not -MAX_META_NUMBER < value < MAX_META_NUMBER:
            errors.append(
                InvalidAttribute(
                    f"variables[{key!r}] must be a number between -(2**53) and 2**53 exclusive",
                    at=at,
                )
            )
        if len(errors) >= 10:  # enough to fix a document; bounded for a hostile one
            break
    if errors:
        raise ApiErrors(errors)
    if len(orjson.dumps(variables)) > max_meta_bytes:
        raise InvalidAttribute(f"variables are larger than {max_meta_bytes} bytes", at=VARIABLES)
    return variables


def _masked(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def _masked_value(value: Any, secrets: tuple[str, ...]) -> Any:
    """`value` (JSON: objects of strings, ...) with every secret masked in its strings."""
    if isinstance(value, str):
        return _masked(value, secrets)
    if isinstance(value, Mapping):
        return {
            _masked(str(key), secrets): _masked_value(item, secrets) for key, item in value.items()
        }
    if isinstance(value, list):
        return [_masked_value(item, secrets) for item in value]
    return value
