"""campaign/flows/oauth2.py: the client-credentials token request, reading the token answer, and
the cache (until expires_in less the margin, bounded, dropped and fetched once more on a 401)."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs

import pytest

from campaign.flows.oauth2 import (
    EXPIRY_MARGIN,
    FORM,
    Client,
    Token,
    TokenCache,
    TokenFailed,
    read_token,
    token_request,
)

CLIENT = Client("http://127.0.0.1:9/token", "orders-app", "s3cr:et&=", "orders.read")


def answer(**members: object) -> bytes:
    return json.dumps(members).encode()


@pytest.mark.parametrize(
    ("client", "form"),
    [
        (CLIENT, {"grant_type": ["client_credentials"], "scope": ["orders.read"]}),
        (Client("http://h/t", "id", "secret"), {"grant_type": ["client_credentials"]}),
    ],
    ids=["with-scope", "without-scope"],
)
def test_the_token_request_is_a_form_post_with_basic_client_credentials(
    client: Client, form: dict[str, list[str]]
) -> None:
    request = token_request(client)
    assert request.url == client.token_url
    assert request.headers["Content-Type"] == FORM
    scheme, _, encoded = request.headers["Authorization"].partition(" ")
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    assert scheme == "Basic"
    # Each part form-encoded first (RFC 6749 §2.3.1), so a ':' in the secret survives.
    assert parse_qs(f"u={user}")["u"] == [client.client_id]
    assert parse_qs(f"p={password}")["p"] == [client.client_secret]
    assert parse_qs(request.body.decode()) == form
    assert client.client_secret.encode() not in request.body


@pytest.mark.parametrize(
    ("body", "token"),
    [
        (answer(access_token="abc", token_type="Bearer", expires_in=3600), Token("abc", 4570.0)),
        (answer(access_token="abc", token_type="bearer", expires_in=60.5), Token("abc", 1030.5)),
        (answer(access_token="abc", expires_in=3600), Token("abc", 4570.0)),
        (answer(access_token="abc", token_type="Bearer"), Token("abc", None)),
        (answer(access_token="abc", expires_in="3600"), Token("abc", None)),
        (answer(access_token="abc", expires_in=True), Token("abc", None)),
        (answer(access_token="abc", expires_in=EXPIRY_MARGIN), Token("abc", None)),
        (answer(access_token="abc", expires_in=-5), Token("abc", None)),
        (b'{"access_token": "abc", "expires_in": NaN}', Token("abc", None)),
        (answer(access_token="abc", expires_in=1e308), Token("abc", 1000.0 + 86_400 - 30)),
        (b'{"access_token": "abc", "expires_in": Infinity}', Token("abc", 1000.0 + 86_400 - 30)),
    ],
    ids=[
        "bearer",
        "fractional-lifetime",
        "type-defaults-to-bearer",
        "no-lifetime-this-call-only",
        "lifetime-as-string-ignored",
        "lifetime-as-bool-ignored",
        "lifetime-within-the-margin",
        "negative-lifetime",
        "nan-lifetime",
        "lifetime-capped-at-a-day",
        "infinite-lifetime-capped",
    ],
)
def test_a_token_answer_is_read_with_its_usable_time(body: bytes, token: Token) -> None:
    assert read_token(200, body, now=1000.0) == token


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (401, answer(error="invalid_client"), "answered 401"),
        (500, b"", "answered 500"),
        (200, b"<html>", "not JSON"),
        (200, b"\xff", "not JSON"),
        (200, b"[1]", "not a JSON object"),
        (200, answer(token_type="Bearer"), "no access_token"),
        (200, answer(access_token=""), "no access_token"),
        (200, answer(access_token=5), "no access_token"),
        (200, answer(access_token="a\r\nX-Injected: 1"), "not a usable bearer token"),
        (200, answer(access_token="ключ"), "not a usable bearer token"),
        (200, answer(access_token="a" * 8193), "not a usable bearer token"),
        (200, answer(access_token="abc", token_type="mac"), "not a bearer one"),
    ],
    ids=[
        "refused",
        "server-error",
        "html",
        "not-utf8",
        "array",
        "no-token",
        "empty-token",
        "number-token",
        "header-injection",
        "non-ascii",
        "too-long",
        "not-bearer",
    ],
)
def test_an_answer_without_a_usable_token_fails_with_the_reason(
    status: int, body: bytes, reason: str
) -> None:
    with pytest.raises(TokenFailed) as caught:
        read_token(status, body, now=0.0)
    assert reason in caught.value.reason


def test_a_token_is_reused_until_it_expires() -> None:
    cache = TokenCache()
    token = Token("abc", 100.0)
    cache.put(CLIENT, token)
    assert cache.get(CLIENT, now=99.9) == token
    assert cache.get(CLIENT, now=100.0) is None
    assert cache.get(CLIENT, now=50.0) is None  # expired tokens are dropped, not kept


def test_a_token_for_this_call_only_is_not_kept() -> None:
    cache = TokenCache()
    cache.put(CLIENT, Token("abc", None))
    assert cache.get(CLIENT, now=0.0) is None


@pytest.mark.parametrize(
    "other",
    [
        Client(CLIENT.token_url, CLIENT.client_id, "rotated", CLIENT.scope),
        Client(CLIENT.token_url, CLIENT.client_id, CLIENT.client_secret, "orders.write"),
        Client(CLIENT.token_url, "another-app", CLIENT.client_secret, CLIENT.scope),
        Client("http://127.0.0.1:9/other", CLIENT.client_id, CLIENT.client_secret, CLIENT.scope),
    ],
    ids=["rotated-secret", "other-scope", "other-client", "other-token-url"],
)
def test_tokens_are_kept_per_client_secret_scope_and_url(other: Client) -> None:
    cache = TokenCache()
    cache.put(CLIENT, Token("abc", 100.0))
    assert cache.get(other, now=0.0) is None
    assert cache.get(CLIENT, now=0.0) == Token("abc", 100.0)


def test_the_cache_is_bounded_least_recently_used_out_first() -> None:
    cache = TokenCache(max_entries=2)
    clients = [Client("http://h/t", f"c{index}", "s") for index in range(3)]
    cache.put(clients[0], Token("t0", 100.0))
    cache.put(clients[1], Token("t1", 100.0))
    assert cache.get(clients[0], now=0.0) is not None  # c0 used: c1 is now the oldest
    cache.put(clients[2], Token("t2", 100.0))
    assert [cache.get(client, now=0.0) is not None for client in clients] == [True, False, True]


def test_a_401_drops_the_token_and_allows_one_fetch_more() -> None:
    cache = TokenCache()
    stale = Token("stale", 100.0)
    cache.put(CLIENT, stale)
    assert cache.after_unauthorized(CLIENT, stale, retried=False) is True
    assert cache.get(CLIENT, now=0.0) is None
    fresh = Token("fresh", 100.0)
    cache.put(CLIENT, fresh)
    # The retry with the fresh token is answered 401 too: no third call; the token goes.
    assert cache.after_unauthorized(CLIENT, fresh, retried=True) is False
    assert cache.get(CLIENT, now=0.0) is None


def test_a_401_for_an_older_token_leaves_a_newer_one() -> None:
    cache = TokenCache()
    cache.put(CLIENT, Token("newer", 100.0))
    assert cache.after_unauthorized(CLIENT, Token("older", 50.0), retried=False) is True
    assert cache.get(CLIENT, now=0.0) == Token("newer", 100.0)
