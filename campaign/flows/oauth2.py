"""OAuth 2.0 client credentials for web calls (pure: the caller does the HTTP and gives the clock).

SmartFlows' External Web Call supports one grant, client credentials, with a POST of
`application/x-www-form-urlencoded` to the token URL; so do we. The client authenticates with
HTTP Basic (`client_id:client_secret`, each form-encoded first, RFC 6749 §2.3.1: the method every
authorization server must accept), and the body carries `grant_type=client_credentials` and the
`scope` when one is set. Sending the secret in the body as well would be a second client
authentication method, which RFC 6749 forbids and servers refuse.

A token is kept until its `expires_in` (less a margin, so it does not expire in flight; at most a
day, whatever the token URL claims) and reused
by every call with the same token URL, client and scope; a token answered without `expires_in`
serves only the call that fetched it. When a call with a cached token is answered 401, the token
is dropped and fetched again once (`after_unauthorized`); a second 401 is the call's failure. The
cache holds at most `max_entries` tokens (least recently used out first), so tenants' many
clients cannot grow it without bound.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

FORM = "application/x-www-form-urlencoded"
# Taken off `expires_in`, so a token is never sent in its last seconds.
EXPIRY_MARGIN = 30.0
# The longest a token is kept, whatever its expires_in says (a token URL may claim forever).
MAX_LIFETIME = 24 * 3600.0
# The longest a token's text may be: far above any real one (a JWT is a few KiB).
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class Client:
    """One activity's `oauth2` settings."""

    token_url: str
    client_id: str
    client_secret: str
    scope: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What identifies its tokens: a changed secret is a different client."""
        secret = hashlib.sha256(self.client_secret.encode()).hexdigest()
        return (self.token_url, self.client_id, self.scope or "", secret)


@dataclass(frozen=True)
class TokenRequest:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Token:
    access_token: str
    # When it stops being used (the clock's seconds); None: for the call that fetched it only.
    usable_until: float | None

    @property
    def header(self) -> str:
        return f"Bearer {self.access_token}"


class TokenFailed(Exception):
    """The token URL did not give a token; `reason` says why (kept on the run)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def token_request(client: Client) -> TokenRequest:
    """The POST that asks the token URL for a token."""
    credentials = f"{quote_plus(client.client_id)}:{quote_plus(client.client_secret)}"
    form = {"grant_type": "client_credentials"}
    if client.scope:
        form["scope"] = client.scope
    return TokenRequest(
        client.token_url,
        {
            "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode("ascii"),
            "Content-Type": FORM,
            "Accept": "application/json",
        },
        urlencode(form).encode(),
    )


def read_token(status: int, body: bytes, now: float) -> Token:
    """The token in the token URL's answer, or TokenFailed saying what was wrong with it."""
    if not 200 <= status < 300:
        raise TokenFailed(f"the token URL answered {status}")
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise TokenFailed("the token URL's answer is not JSON") from None
    if not isinstance(answer, dict):
        raise TokenFailed("the token URL's answer is not a JSON object")
    access_token = answer.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise TokenFailed("the token URL's answer has no access_token")
    if len(access_token) > MAX_TOKEN_LENGTH or not access_token.isascii():
        raise TokenFailed("the token URL's access_token is not a usable bearer token")
    if any(ch in access_token for ch in "\r\n\x00"):
        raise TokenFailed("the token URL's access_token is not a usable bearer token")
    token_type = answer.get("token_type", "bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise TokenFailed(f"the token URL gave a {str(token_type)[:20]!r} token, not a bearer one")
    expires_in = answer.get("expires_in")
    lifetime = (
        float(expires_in)
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
        else None
    )
    if lifetime is None or lifetime != lifetime or lifetime - EXPIRY_MARGIN <= 0:
        return Token(access_token, None)
    return Token(access_token, now + min(lifetime, MAX_LIFETIME) - EXPIRY_MARGIN)


class TokenCache:
    """Tokens by client, until they expire; at most `max_entries` of them."""

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._tokens: OrderedDict[tuple[str, str, str, str], Token] = OrderedDict()

    def get(self, client: Client, now: float) -> Token | None:
        token = self._tokens.get(client.key)
        if token is None:
            return None
        if token.usable_until is None or token.usable_until <= now:
            del self._tokens[client.key]
            return None
        self._tokens.move_to_end(client.key)
        return token

    def put(self, client: Client, token: Token) -> None:
        if token.usable_until is None:
            return
        self._tokens[client.key] = token
        self._tokens.move_to_end(client.key)
        while len(self._tokens) > self.max_entries:
            self._tokens.popitem(last=False)

    def after_unauthorized(self, client: Client, token: Token, *, retried: bool) -> bool:
        """A call with `token` was answered 401: whether to fetch a new token and call once
        more. The stale token is dropped either way."""
        if self._tokens.get(client.key) == token:
            del self._tokens[client.key]
        return not retried
