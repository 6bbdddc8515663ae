"""A web call's request, built from its activity's templates and a run's variables (pure).

Every input of SmartFlows' External Web Call: `method` (GET, POST, PATCH, PUT, DELETE), the
URL of service, headers (values are templates), basic auth, an OAuth 2.0 bearer token (fetched
by the caller, `oauth2.py`), `content-type`, `body` and `timeout` (1-200 s, default 10). The URL,
header values and body are rendered in the same sandbox as text bodies, with the run's variables
(`{{temp}}`, `{{first-name}}`); a value that goes into a URL is written into it as rendered, so a
flow that needs it escaped says `{{ order-id | urlencode }}` (as TextIt's `url_encode`).

What a render produces is checked before anything leaves: an http or https URL without spaces
or control characters, header values without CR, LF or NUL (a variable cannot add a header), and
sizes within the bounds below. Each call carries `Idempotency-Key: <envelope id>:<step>`: a worker
killed mid-call makes the call again after the sweep, and the receiver can tell. Framing headers
(Host, Content-Length, Transfer-Encoding, Connection) belong to the HTTP client and may not be set.

`display()` is the request as the Test HTTP Request answer and a run's path show it: secrets
(an Authorization header's credentials whatever set them, and the basic-auth password or the
bearer token wherever else they appear) masked.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from campaign.templates_engine import RenderError, TemplateError, compile_template

METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
MIN_TIMEOUT, MAX_TIMEOUT, DEFAULT_TIMEOUT = 1, 200, 10
MAX_URL_LENGTH = 2048
MAX_HEADERS = 32
MAX_HEADER_VALUE_LENGTH = 4096
MAX_BODY_TEMPLATE_LENGTH = 16 * 1024
MAX_BODY_LENGTH = 64 * 1024
# The answer a call may read (over it the call fails), and what Test HTTP Request shows of it.
MAX_ANSWER_BYTES = 1024 * 1024
SHOWN_ANSWER_BYTES = 64 * 1024
FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
USER_AGENT = "campaign-web-call"
MASK = "********"
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})
_TOKEN_CHARACTERS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


@dataclass(frozen=True)
class WebCall:
    """One `web-call` activity's settings, as validated when the activity was stored."""

    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    basic_auth: tuple[str, str] | None = None
    content_type: str | None = None
    body: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float
    # Values that must never be shown or logged: the password, the token.
    secrets: tuple[str, ...] = ()

    def display(self) -> dict[str, Any]:
        """Method, URL and headers with every secret masked."""
        headers = {name: _masked(name, value, self.secrets) for name, value in self.headers.items()}
        return {
            "method": self.method,
            "url": _mask_text(self.url, self.secrets),
            "headers": headers,
        }


class Unbuildable(Exception):
    """The templates and variables do not make a request that may leave; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def bad_header_name(name: object) -> str | None:
    """Why `name` cannot be a header a flow sets (a 400 on the activity), or None."""
    if not isinstance(name, str) or not name or not set(name) <= _TOKEN_CHARACTERS:
        return f"{str(name)[:40]!r} is not an HTTP header name"
    if name.lower() in FRAMING_HEADERS:
        return f"{name} is set by the HTTP client, not by a flow"
    return None


def build_request(
    call: WebCall,
    variables: Mapping[str, str | int | float | bool],
    *,
    idempotency_key: str,
    bearer_token: str | None = None,
) -> Request:
    """The request `call` makes for a run with `variables`, or Unbuildable saying why not."""
    url = _render("url", call.url, variables, MAX_URL_LENGTH, MAX_URL_LENGTH)
    _check_url(url)
    headers: dict[str, str] = {"User-Agent": USER_AGENT}
    if len(call.headers) > MAX_HEADERS:
        raise Unbuildable(f"at most {MAX_HEADERS} headers")
    for name, template in call.headers.items():
        if problem := bad_header_name(name):
            raise Unbuildable(problem)
        value = _render(
            f"header {name}", template, variables, MAX_HEADER_VALUE_LENGTH, MAX_HEADER_VALUE_LENGTH
        )
        if any(character in value for character in "\r\n\x00"):
            raise Unbuildable(f"the header {name} renders a line break or NUL")
        headers[_canonical(headers, name)] = value
    secrets: list[str] = []
    if call.basic_auth is not None:
        username, password = call.basic_auth
        pair = f"{username}:{password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        secrets.append(password)
    if bearer_token is not None:
        headers["Authorization"] = f"Bearer {bearer_token}"
        secrets.append(bearer_token)
    body = None
    if call.body is not None:
        body = _render(
            "body", call.body, variables, MAX_BODY_TEMPLATE_LENGTH, MAX_BODY_LENGTH
        ).encode()
        if call.content_type:
            headers["Content-Type"] = call.content_type
    headers["Idempotency-Key"] = idempotency_key
    return Request(call.method, url, headers, body, float(call.timeout), tuple(secrets))


def _canonical(headers: dict[str, str], name: str) -> str:
    """The flow's spelling, replacing a default of the same name (User-Agent) in any case."""
    for existing in list(headers):
        if existing.lower() == name.lower():
            del headers[existing]
    return name


def _render(
    what: str,
    template: str,
    variables: Mapping[str, str | int | float | bool],
    template_limit: int,
    rendered_limit: int,
) -> str:
    try:
        compiled = compile_template(template, max_length=template_limit)
        return compiled.render(variables, max_length=rendered_limit)
    except (TemplateError, RenderError) as exc:
        raise Unbuildable(f"the {what} cannot be rendered: {exc}") from None


def _check_url(url: str) -> None:
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise Unbuildable("the url renders a space or control character; use | urlencode")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (a port out of range raises here)
    except ValueError as exc:
        raise Unbuildable(f"the url is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unbuildable("the url must be http:// or https:// with a host")


def _mask_text(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def _masked(name: str, value: str, secrets: tuple[str, ...]) -> str:
    if name.lower() in _CREDENTIAL_HEADERS:
        # Whether it came from basic auth, a token or the flow's own header, it is a credential.
        scheme, _, credentials = value.partition(" ")
        return f"{scheme} {MASK}" if credentials else MASK
    return _mask_text(value, secrets)
