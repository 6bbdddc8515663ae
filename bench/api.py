"""A thin JSON:API client for the benchmarks: credentials from the CLI, campaigns over HTTP."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bench.stack import Stack

JSONAPI = "application/vnd.api+json"
BULK = {"Content-Type": f"{JSONAPI}; ext=bulk", "Accept": f"{JSONAPI}; ext=bulk"}


def _resource(
    type_: str,
    attributes: dict[str, Any],
    relationships: dict[str, tuple[str, str]] | None = None,
    id_: str | None = None,
) -> bytes:
    data: dict[str, Any] = {"type": type_, "attributes": attributes}
    if id_:
        data["id"] = id_
    if relationships:
        data["relationships"] = {
            name: {"data": {"type": kind, "id": ident}}
            for name, (kind, ident) in relationships.items()
        }
    return orjson.dumps({"data": data})


@dataclass
class Api:
    """Requests as one account; `client()` makes a fresh keep-alive connection for a thread."""

    base_url: str
    headers: dict[str, str]
    stack: Stack
    key: str

    @classmethod
    def for_new_account(cls, stack: Stack, key: str = "bench") -> Api:
        stack.campaign("accounts", "create", key, "--name", "Benchmark")
        token = stack.campaign("tokens", "create", key).strip().splitlines()[-1]
        basic = base64.b64encode(token.encode()).decode()
        return cls(
            stack.base_url,
            {
                "X-Account-Key": key,
                "Authorization": f"Basic {basic}",
                "Content-Type": JSONAPI,
                "Accept": JSONAPI,
            },
            stack,
            key,
        )

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=600)

    def _create(self, path: str, body: bytes) -> str:
        with self.client() as client:
            response = client.post(path, content=body)
        if response.status_code != 201:
            raise RuntimeError(f"POST {path}: {response.status_code} {response.text[:500]}")
        return response.json()["data"]["id"]

    def create(
        self,
        type_: str,
        attributes: dict[str, Any],
        relationships: dict[str, tuple[str, str]] | None = None,
    ) -> str:
        """POST one resource of `type_` to its collection; its id."""
        return self._create(f"/api/v1/{type_}", _resource(type_, attributes, relationships))

    def text_activity(self, engagement_id: str, name: str, body: str, phone_number_id: str) -> str:
        """A text template and the `text` activity that sends it; the activity."""
        template = self.create("text-templates", {"name": name, "body": body})
        return self.create(
            "activities",
            {"name": name, "kind": "text"},
            {
                "engagement": ("engagements", engagement_id),
                "text-template": ("text-templates", template),
                "phone-number": ("phone-numbers", phone_number_id),
            },
        )

    def phone_number(self, number: str, throughput: int) -> str:
        """A sender as the operator provisions one: allotted to the account, with its cap."""
        output = self.stack.campaign(
            "phone-numbers", "create", self.key, number,
            "--throughput", str(throughput), "--name", "bench",
        )  # fmt: skip
        return output.strip().splitlines()[-1]

    def campaign(self, phone_number_id: str, body: str, name: str = "Benchmark") -> str:
        """Template, engagement and activity (requests 1-3 of the walkthrough); the engagement."""
        engagement = self.create("engagements", {"name": name, "direction": "outbound"})
        self.text_activity(engagement, name, body, phone_number_id)
        return engagement

    def upload(self, client: httpx.Client, document: dict[str, Any]) -> int:
        """POST one bulk document; the number of envelopes created."""
        response = client.post("/api/v1/envelopes", content=orjson.dumps(document), headers=BULK)
        if response.status_code != 201:
            raise RuntimeError(f"bulk upload: {response.status_code} {response.text[:1000]}")
        return len(orjson.loads(response.content)["data"])

    def schedule_request(
        self, engagement_id: str, delivery_type: str = "immediately"
    ) -> httpx.Request:
        """The PATCH to `scheduled`, built ahead so sending it is all that is timed."""
        return httpx.Request(
            "PATCH",
            f"{self.base_url}/api/v1/engagements/{engagement_id}",
            headers=self.headers,
            content=_resource(
                "engagements",
                {"status": "scheduled", "delivery-type": delivery_type},
                id_=engagement_id,
            ),
        )
