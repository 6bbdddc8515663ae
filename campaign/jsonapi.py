"""JSON:API media types and negotiation (415/406, `ext=bulk`), and the response documents.

Omnigage's clients send `application/vnd.api+json`, sometimes with `ext=bulk`, sometimes plain
`application/json`, and the seed requests send no Content-Type at all: all of those are read as
JSON:API. Any other media type, or JSON:API with parameters other than `ext`/`profile`, is a 415.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Request, Response, has_request_context, request
from werkzeug.http import parse_list_header, parse_options_header

from campaign.errors import ApiError, NotAcceptable, UnsupportedMediaType

JSONAPI = "application/vnd.api+json"
JSONAPI_BULK = f"{JSONAPI}; ext=bulk"
_JSONAPI_PARAMETERS = frozenset({"ext", "profile"})
_ACCEPTABLE_WILDCARDS = frozenset({"*/*", "application/*", "application/json"})


def request_extensions(request: Request) -> frozenset[str]:
    """Check the request's Content-Type and return the JSON:API extensions it names.

    Raises UnsupportedMediaType for anything that is not (lenient) JSON:API.
    """
    header = request.headers.get("Content-Type")
    if not header or not header.strip():
        return frozenset()
    # Omnigage's official SDK sends a list on bulk uploads, which RFC 9110 does not allow in
    # Content-Type but its API accepts: "application/json; charset=utf-8,application/vnd.api+json;
    # ext=bulk". Each entry must be acceptable; the extensions are those its JSON:API entries name.
    extensions: set[str] = set()
    for entry in parse_list_header(header):
        extensions |= _entry_extensions(entry)
    return frozenset(extensions)


def _entry_extensions(entry: str) -> frozenset[str]:
    mimetype, params = parse_options_header(entry)
    mimetype = mimetype.lower()
    if mimetype == "application/json":
        return frozenset()
    if mimetype != JSONAPI:
        raise UnsupportedMediaType(
            f"Content-Type {mimetype!r} is not supported; send {JSONAPI!r}",
            header="Content-Type",
        )
    unknown = set(params) - _JSONAPI_PARAMETERS
    if unknown:
        raise UnsupportedMediaType(
            f"media type parameter {sorted(unknown)[0]!r} is not supported; JSON:API allows "
            "only 'ext' and 'profile'",
            header="Content-Type",
        )
    return frozenset(params.get("ext", "").split())


def _accepted_types(header: str | None) -> list[tuple[str, dict[str, str]]]:
    """The media types an Accept header allows (quality above 0), lower-cased, with their
    parameters other than `q`."""
    accepted = []
    for entry in parse_list_header(header or ""):
        mimetype, params = parse_options_header(entry)
        quality = params.pop("q", "1")
        try:
            if float(quality) <= 0:
                continue
        except ValueError:
            continue
        accepted.append((mimetype.lower(), params))
    return accepted


def check_acceptable(request: Request) -> None:
    """Raise NotAcceptable when the Accept header allows no JSON:API response."""
    header = request.headers.get("Accept")
    if not header or not header.strip():
        return
    for mimetype, params in _accepted_types(header):
        if mimetype in _ACCEPTABLE_WILDCARDS:
            return
        if mimetype == JSONAPI and not set(params) - _JSONAPI_PARAMETERS:
            return
    raise NotAcceptable(f"the Accept header allows no {JSONAPI!r} response", header="Accept")


def document_response(
    document: dict[str, Any] | None,
    status: int = 200,
    *,
    headers: dict[str, str] | None = None,
    bulk: bool = False,
) -> Response:
    """A JSON:API response; `None` gives an empty body (204). A client whose Accept names
    `application/json` and not JSON:API's media type (nor a wildcard) gets the same document
    labelled `application/json`."""
    body = b"" if document is None else orjson.dumps(document)
    response = Response(body, status=status, headers=headers)
    if document is not None:
        if has_request_context() and _accepts_only_plain_json(request.headers.get("Accept")):
            response.content_type = "application/json"
        else:
            response.content_type = JSONAPI_BULK if bulk else JSONAPI
    return response


def _accepts_only_plain_json(header: str | None) -> bool:
    accepted = {mimetype for mimetype, _ in _accepted_types(header)}
    return "application/json" in accepted and not accepted & {JSONAPI, "*/*", "application/*"}


def error_response(errors: list[ApiError], status: int) -> Response:
    """The one error document shape of the service."""
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="campaign", charset="UTF-8"'
    return document_response(
        {"errors": [error.to_dict() for error in errors], "jsonapi": {"version": "1.0"}},
        status,
        headers=headers,
    )
