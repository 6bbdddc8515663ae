"""A test client for the API that authenticates as one account and checks every response
document against the official JSON:API schema (jsonschema-rs)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
from flask.testing import FlaskClient
from werkzeug.test import TestResponse
from werkzeug.wrappers import Response

from tests.factories import Credentials

# The official JSON:API 1.0 schema, vendored: see tests/data/README.md.
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "jsonapi-schema.json"
JSONAPI = "application/vnd.api+json"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


@cache
def jsonapi_validator() -> Any:
    return jsonschema_rs.validator_for(json.loads(SCHEMA_PATH.read_text()))


def assert_jsonapi(response: TestResponse | Response, mimetype: str = JSONAPI) -> Any:
    """The response's document, after checking its media type and shape."""
    if response.status_code == 204 or not response.data:
        assert response.status_code == 204, f"empty body with status {response.status_code}"
        return None
    assert response.mimetype == mimetype, response.content_type
    document = json.loads(response.data)
    errors = [error.message for error in jsonapi_validator().iter_errors(document)]
    assert not errors, f"not a valid JSON:API document: {errors[:3]}\n{document}"
    if "errors" in document:
        for error in document["errors"]:
            assert {"status", "title", "detail"} <= set(error), error
        if len(document["errors"]) == 1:
            assert document["errors"][0]["status"] == str(response.status_code)
    return document


@dataclass
class Reply:
    status: int
    headers: Any
    document: Any

    @property
    def data(self) -> Any:
        return self.document["data"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.document["errors"]

    def pointers(self) -> list[str | None]:
        return [error.get("source", {}).get("pointer") for error in self.errors]


class LoopbackClient:
    """FlaskClient's `open`, over real HTTP to an app served on loopback (tests.servers.serve):
    the bytes on the wire are what the test says, no header added but Host, Content-Length and
    httpx's connection headers (no Accept: a client that sends none must be served)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = httpx.Client(timeout=30)
        del self._http.headers["Accept"]

    def open(self, path: str, *, method: str, data: Any, headers: dict[str, str]) -> Response:
        reply = self._http.request(method, self.base_url + path, content=data, headers=headers)
        return Response(reply.content, reply.status_code, headers=list(reply.headers.multi_items()))

    def close(self) -> None:
        self._http.close()


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(token.encode()).decode()


class ApiClient:
    """Sends requests as `credentials` with Omnigage's headers."""

    def __init__(self, client: FlaskClient | LoopbackClient, credentials: Credentials) -> None:
        self.client = client
        self.credentials = credentials

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {
            "X-Account-Key": self.credentials.key,
            "Authorization": basic(self.credentials.token),
            "Content-Type": JSONAPI,
        }
        headers.update(extra or {})
        return {name: value for name, value in headers.items() if value is not None}

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        headers: dict[str, str | None] | None = None,
    ) -> Reply:
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        response = self.client.open(path, method=method, data=data, headers=self.headers(headers))  # type: ignore[arg-type]
        plain = (headers or {}).get("Accept") == "application/json"
        document = assert_jsonapi(response, "application/json" if plain else JSONAPI)
        return Reply(response.status_code, response.headers, document)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("PATCH", path, body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, **kwargs)


def assert_created(reply: Reply, type_: str) -> dict[str, Any]:
    """The new resource of a 201, after checking its Location, id and timestamps."""
    assert reply.status == 201, reply.document
    data = reply.data
    assert data["type"] == type_
    assert len(data["id"]) == 22
    assert reply.headers["Location"] == data["links"]["self"] == f"/api/v1/{type_}/{data['id']}"
    attributes = data["attributes"]
    assert TIMESTAMP.match(attributes["created-at"]), attributes["created-at"]
    assert attributes["created-at"] == attributes["updated-at"]
    return data
