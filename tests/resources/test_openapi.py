"""`/api/openapi.json` describes the JSON:API wire format truly: a schema-driven fuzzer
(schemathesis) sends what the description allows, and every answer matches the description."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from campaign.extensions import db
from tests.client import JSONAPI, ApiClient, basic
from tests.factories import (
    BULK,
    Credentials,
    SeedCampaign,
    build_seed_campaign,
    envelope,
    make_phone_number,
    resource,
    schedule,
)
from tests.jobs import drain

BULK_TYPE = BULK["Content-Type"]
OPERATIONS = {
    ("GET", "/api/v1/phone-numbers"),
    ("POST", "/api/v1/phone-numbers"),
    ("GET", "/api/v1/phone-numbers/{phone_number_id}"),
    ("PATCH", "/api/v1/phone-numbers/{phone_number_id}"),
    ("DELETE", "/api/v1/phone-numbers/{phone_number_id}"),
    ("GET", "/api/v1/text-templates"),
    ("POST", "/api/v1/text-templates"),
    ("GET", "/api/v1/text-templates/{text_template_id}"),
    ("PATCH", "/api/v1/text-templates/{text_template_id}"),
    ("DELETE", "/api/v1/text-templates/{text_template_id}"),
    ("GET", "/api/v1/engagements"),
    ("POST", "/api/v1/engagements"),
    ("GET", "/api/v1/engagements/{engagement_id}"),
    ("PATCH", "/api/v1/engagements/{engagement_id}"),
    ("GET", "/api/v1/activities"),
    ("POST", "/api/v1/activities"),
    ("GET", "/api/v1/activities/{activity_id}"),
    ("PATCH", "/api/v1/activities/{activity_id}"),
    ("DELETE", "/api/v1/activities/{activity_id}"),
    ("POST", "/api/v1/activities/{activity_id}/test-requests"),
    ("GET", "/api/v1/triggers"),
    ("POST", "/api/v1/triggers"),
    ("GET", "/api/v1/triggers/{trigger_id}"),
    ("PATCH", "/api/v1/triggers/{trigger_id}"),
    ("DELETE", "/api/v1/triggers/{trigger_id}"),
    ("GET", "/api/v1/envelopes"),
    ("POST", "/api/v1/envelopes"),
    ("GET", "/api/v1/envelopes/{envelope_id}"),
    ("PATCH", "/api/v1/envelopes/{envelope_id}"),
    ("DELETE", "/api/v1/envelopes/{envelope_id}"),
    ("GET", "/api/v1/texts"),
    ("GET", "/api/v1/texts/{text_id}"),
    ("GET", "/api/v1/opt-outs"),
    ("POST", "/api/v1/opt-outs"),
    ("GET", "/api/v1/opt-outs/{opt_out_id}"),
    ("DELETE", "/api/v1/opt-outs/{opt_out_id}"),
    ("GET", "/api/v1/account-replies"),
    ("GET", "/api/v1/account-replies/{account_reply_id}"),
    ("PATCH", "/api/v1/account-replies/{account_reply_id}"),
}
# Enough to reach every documented status of an operation, few enough to run in seconds.
MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
    response_headers_conformance,
]


def auth_headers(credentials: Credentials) -> dict[str, str]:
    return {"X-Account-Key": credentials.key, "Authorization": basic(credentials.token)}


@pytest.fixture
def spec(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def api_schema(app: Flask) -> Any:
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def test_openapi_json_is_served_without_credentials_and_lists_every_operation(
    spec: dict[str, Any],
) -> None:
    assert spec["openapi"] == "3.0.3"
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "delete")
    }
    assert documented == OPERATIONS
    assert spec["security"] == [{"basicAuth": [], "accountKey": []}]
    schemes = spec["components"]["securitySchemes"]
    assert (schemes["basicAuth"]["type"], schemes["basicAuth"]["scheme"]) == ("http", "basic")
    assert (schemes["accountKey"]["in"], schemes["accountKey"]["name"]) == (
        "header",
        "X-Account-Key",
    )


def test_openapi_description_is_a_valid_openapi_30_document(api_schema: Any) -> None:
    api_schema.validate()  # against the OpenAPI 3.0 meta-schema schemathesis ships


def test_every_body_and_answer_is_a_jsonapi_document(spec: dict[str, Any]) -> None:
    responses = spec["components"]["responses"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "delete"):
                continue
            body = operation.get("requestBody", {}).get("content", {})
            assert (JSONAPI in body) == (method in ("post", "patch")), (method, path)
            assert "default" not in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[1]]
                    assert response["content"][JSONAPI]["schema"] == {
                        "$ref": "#/components/schemas/ErrorDocument"
                    }
                media_types = set(response.get("content", {}))
                assert media_types <= {JSONAPI, BULK_TYPE}, (method, path, status)
                assert bool(media_types) == (status != "204"), (method, path, status)
    # flask-smorest's own `application/json` error body is not what this service sends.
    assert "DEFAULT_ERROR" not in responses
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"status", "title", "detail", "source"}


def test_create_document_requires_data_and_excludes_read_only_attributes(
    spec: dict[str, Any],
) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas["TextTemplateCreateDocument"]["required"] == ["data"]
    create = schemas["TextTemplateCreate"]
    assert create["required"] == ["type", "attributes"]
    assert create["properties"]["type"]["enum"] == ["text-templates"]
    attributes = create["properties"]["attributes"]
    assert set(attributes["properties"]) == {"name", "body"}
    assert attributes["required"] == ["name", "body"]
    assert attributes["additionalProperties"] is False
    update = schemas["TextTemplateUpdateDocument"]["properties"]["data"]
    assert update["required"] == ["type", "id"]
    assert "required" not in update["properties"]["attributes"]
    readable = schemas["TextTemplate"]["properties"]["attributes"]["properties"]
    assert set(readable) == {"created-at", "updated-at", "name", "body", "variables"}
    assert readable["variables"]["readOnly"] is True
    assert "from" in schemas["Text"]["properties"]["attributes"]["properties"]


def test_relationships_describe_their_linkage_type_and_arity(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    engagement = schemas["Engagement"]["properties"]["relationships"]["properties"]
    numbers = engagement["phone-numbers"]["properties"]["data"]
    assert numbers["type"] == "array"
    assert numbers["items"]["properties"]["type"]["enum"] == ["phone-numbers"]
    assert engagement["activity"]["properties"]["data"]["nullable"] is True
    envelope_links = schemas["Envelope"]["properties"]["relationships"]["properties"]
    assert "nullable" not in envelope_links["engagement"]["properties"]["data"]
    activity_create = schemas["ActivityCreate"]["properties"]
    # A text also needs its template and sender, other kinds must not have them: the service's.
    assert activity_create["relationships"]["required"] == ["engagement"]
    assert set(activity_create["relationships"]["properties"]) == {
        "engagement",
        "text-template",
        "phone-number",
    }
    # An activity cannot move to another engagement, so the update does not offer it.
    activity_update = schemas["ActivityUpdateDocument"]["properties"]["data"]["properties"]
    assert set(activity_update["relationships"]["properties"]) == {"text-template", "phone-number"}
    # The entry activity is chosen on update only: a new engagement has no activities.
    assert "relationships" not in schemas["EngagementCreate"]["properties"]
    engagement_update = schemas["EngagementUpdateDocument"]["properties"]["data"]["properties"]
    assert set(engagement_update["relationships"]["properties"]) == {"activity"}
    activities = engagement["activities"]["properties"]["data"]
    assert (activities["type"], activities["items"]["properties"]["type"]["enum"]) == (
        "array",
        ["activities"],
    )
    trigger_create = schemas["TriggerCreate"]["properties"]["relationships"]
    assert trigger_create["required"] == ["activity", "next-activity"]
    trigger_links = schemas["Trigger"]["properties"]["relationships"]["properties"]
    assert set(trigger_links) == {"engagement", "activity", "next-activity"}


def test_secrets_are_write_only_and_absent_from_what_is_read(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    shown = schemas["Activity"]["properties"]["attributes"]["properties"]
    written = schemas["ActivityCreate"]["properties"]["attributes"]["properties"]
    updated = schemas["ActivityUpdateDocument"]["properties"]["data"]["properties"]["attributes"]
    for name, secret in (("basic-auth", "password"), ("oauth2", "client-secret")):
        assert secret not in shown[name]["properties"]
        assert shown[name]["additionalProperties"] is False
        assert written[name]["properties"][secret]["writeOnly"] is True
        assert updated["properties"][name]["properties"][secret]["writeOnly"] is True
    assert shown["kind"]["enum"] == ["text", "web-call", "split"]
    assert shown["timeout"]["maximum"] == 200 and shown["timeout"]["minimum"] == 1


def test_the_test_request_operation_is_described(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/api/v1/activities/{activity_id}/test-requests"]["post"]
    assert operation["requestBody"]["required"] is False
    assert set(operation["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "406",
        "409",
        "413",
        "415",
        "422",
        "429",
    }
    answer = spec["components"]["schemas"]["TestRequest"]["properties"]["attributes"]
    assert set(answer["properties"]) == {
        "created-at",
        "variables",
        "request",
        "response",
        "success",
        "reason",
    }
    assert answer["properties"]["response"]["nullable"] is True


def test_envelope_post_takes_one_document_or_a_bulk_array(spec: dict[str, Any]) -> None:
    content = spec["paths"]["/api/v1/envelopes"]["post"]["requestBody"]["content"]
    assert content[JSONAPI]["schema"] == {"$ref": "#/components/schemas/EnvelopeCreateDocument"}
    bulk = content[BULK_TYPE]["schema"]["oneOf"]
    assert {"$ref": "#/components/schemas/EnvelopeBulkCreateDocument"} in bulk
    entries = spec["components"]["schemas"]["EnvelopeBulkCreateDocument"]["properties"]["data"]
    assert (entries["type"], entries["minItems"], entries["maxItems"]) == ("array", 1, 10_000)


def test_every_documented_filter_and_include_is_accepted_by_its_list(
    spec: dict[str, Any], api: ApiClient
) -> None:
    for path, item in spec["paths"].items():
        if "{" in path:
            continue
        parameters = {parameter["name"]: parameter for parameter in item["get"]["parameters"]}
        assert parameters["sort"]["schema"]["enum"] == [
            "created-at",
            "-created-at",
            "updated-at",
            "-updated-at",
        ]
        assert parameters["page[size]"]["schema"]["maximum"] == 1000
        for name, parameter in parameters.items():
            schema = parameter["schema"]
            if name.startswith("filter["):
                value = schema.get("enum", [parameter.get("example", "2JZy2BTWJhxasge4Tpvj6D")])[0]
                reply = api.get(f"{path}?{name}={value}")
                assert reply.status == 200, (path, name, reply.document)
            elif name == "include":
                reply = api.get(f"{path}?include={','.join(schema['items']['enum'])}")
                assert reply.status == 200, (path, reply.document)
        assert api.get(f"{path}?filter[undocumented]=x").status == 400


@pytest.fixture
def sent_campaign(app: Flask, api: ApiClient, account: Credentials) -> SeedCampaign:
    """The seed campaign scheduled and sent by a real worker: every type has rows."""
    with app.app_context():
        phone_id = make_phone_number(account_id=account.account_id, throughput=100)
    seed = build_seed_campaign(api, phone_id)
    scheduled = schedule(api, seed.engagement_id)
    assert scheduled.status == 202
    drain(app)
    return seed


# The status each method answers these requests with.
SUCCESS = {"GET": 200, "PATCH": 200, "POST": 201, "DELETE": 204}


def test_real_answers_of_a_sent_campaign_match_the_description(
    app: Flask, api: ApiClient, api_schema: Any, account: Credentials, sent_campaign: SeedCampaign
) -> None:
    """Success documents that random ids rarely reach, validated against the description."""
    seed = sent_campaign
    texts = api.get(f"/api/v1/texts?filter[engagement]={seed.engagement_id}").data
    assert len(texts) == 2
    spare = api.post("/api/v1/engagements", resource("engagements", {"name": "Spare"}))
    requests: list[tuple[str, str, str, Any, dict[str, str]]] = [
        ("GET", "/api/v1/texts", "?include=envelope,engagement", None, {}),
        ("GET", "/api/v1/texts/{text_id}", "?include=envelope", None, {}),
        ("GET", "/api/v1/engagements", "?include=activity,phone-numbers", None, {}),
        ("GET", "/api/v1/engagements/{engagement_id}", "?include=activity", None, {}),
        ("GET", "/api/v1/activities", "?include=text-template,phone-number", None, {}),
        ("GET", "/api/v1/activities/{activity_id}", "?include=engagement", None, {}),
        ("GET", "/api/v1/envelopes", "?include=engagement,activity&sort=-created-at", None, {}),
        ("GET", "/api/v1/envelopes/{envelope_id}", "", None, {}),
        ("GET", "/api/v1/phone-numbers", "?page[size]=1", None, {}),
        ("GET", "/api/v1/phone-numbers/{phone_number_id}", "", None, {}),
        ("GET", "/api/v1/text-templates", "", None, {}),
        ("PATCH", "/api/v1/text-templates/{text_template_id}", "", {"name": "Renamed"}, {}),
        ("PATCH", "/api/v1/phone-numbers/{phone_number_id}", "", {"name": "Front desk"}, {}),
        ("POST", "/api/v1/envelopes", "", [envelope(spare.data["id"], "+15197566221")], BULK),
        ("POST", "/api/v1/envelopes", "", envelope(spare.data["id"], "+15197566222"), {}),
        ("DELETE", "/api/v1/text-templates/{text_template_id}", "", None, {}),
    ]
    ids = {
        "text_id": texts[0]["id"],
        "engagement_id": seed.engagement_id,
        "activity_id": seed.activity_id,
        "envelope_id": seed.envelope_ids[0],
        "phone_number_id": seed.phone_number_id,
        # Not the activity's template: a template in use may not be deleted.
        "text_template_id": api.post(
            "/api/v1/text-templates", resource("text-templates", {"name": "T", "body": "Hi"})
        ).data["id"],
    }
    client = app.test_client()
    for method, path, query, payload, headers in requests:
        url = path.format(**ids) + query
        body = payload
        if method == "PATCH":
            type_ = path.split("/")[3]
            body = resource(type_, payload, id_=url.rsplit("/", 1)[1])
        elif method == "POST":
            body = {"data": payload}
        content_type = headers.get("Content-Type", JSONAPI)
        response = client.open(
            url,
            method=method,
            json=body,
            headers={**auth_headers(account), **headers, "Content-Type": content_type},
        )
        assert response.status_code == SUCCESS[method], (url, response.get_json())
        case = api_schema[path][method].Case(media_type=content_type if body else None)
        case.validate_response(response, checks=CHECKS)


def test_real_answers_of_opt_outs_match_the_description(
    app: Flask, api_schema: Any, account: Credentials
) -> None:
    """New and already-filed opt-outs, one and in bulk, then read, listed and deleted."""
    one = {"type": "opt-outs", "attributes": {"phone-number": "+15197566220"}}
    two = {"type": "opt-outs", "attributes": {"phone-number": "+15197566221"}}
    client = app.test_client()

    def answer(
        method: str, path: str, body: Any, status: int, *, bulk: bool = False, query: str = ""
    ) -> Any:
        content_type = BULK_TYPE if bulk else JSONAPI
        headers = {**auth_headers(account), "Content-Type": content_type}
        if bulk:
            headers["Accept"] = BULK["Accept"]
        url = path.replace("{opt_out_id}", created) + query
        response = client.open(url, method=method, json=body, headers=headers)
        assert response.status_code == status, (url, response.get_json())
        case = api_schema[path][method].Case(media_type=content_type if body else None)
        case.validate_response(response, checks=CHECKS)
        return response.get_json()

    created = ""
    created = answer("POST", "/api/v1/opt-outs", {"data": one}, 201)["data"]["id"]
    answer("POST", "/api/v1/opt-outs", {"data": one}, 200)
    answer("POST", "/api/v1/opt-outs", {"data": [one, two]}, 201, bulk=True)
    answer("POST", "/api/v1/opt-outs", {"data": [two]}, 200, bulk=True)
    answer("GET", "/api/v1/opt-outs", None, 200, query="?filter[source]=api&sort=-created-at")
    answer("GET", "/api/v1/opt-outs/{opt_out_id}", None, 200)
    answer("DELETE", "/api/v1/opt-outs/{opt_out_id}", None, 204)


def test_real_answers_of_flow_resources_match_the_description(
    app: Flask, api: ApiClient, api_schema: Any, account: Credentials
) -> None:
    """A web call (with a write-only password), a split, a trigger between them, and a Test HTTP
    Request (refused by the SSRF guard: nothing is contacted), validated against the description."""
    engagement = api.post("/api/v1/engagements", resource("engagements", {"name": "Flow"}))
    engagement_id = engagement.data["id"]
    links = {"engagement": ("engagements", engagement_id)}
    web_call = api.post(
        "/api/v1/activities",
        resource(
            "activities",
            {
                "name": "Order",
                "kind": "web-call",
                "url": "http://127.0.0.1:9/orders/{{order-id}}",
                "basic-auth": {"username": "ada", "password": "secret"},
                "response-variables": [{"name": "status", "query": "status"}],
            },
            links,
        ),
    )
    split = api.post(
        "/api/v1/activities",
        resource(
            "activities",
            {
                "name": "By status",
                "kind": "split",
                "variable": "status",
                "rules": [{"category": "Shipped", "test": "equals", "arguments": ["shipped"]}],
            },
            links,
        ),
    )
    trigger = api.post(
        "/api/v1/triggers",
        resource(
            "triggers",
            {"on-event": "web-call-success"},
            {
                "activity": ("activities", web_call.data["id"]),
                "next-activity": ("activities", split.data["id"]),
            },
        ),
    )
    assert {web_call.status, split.status, trigger.status} == {201}
    ids = {
        "activity_id": web_call.data["id"],
        "trigger_id": trigger.data["id"],
        "engagement_id": engagement_id,
    }
    requests: list[tuple[str, str, str, Any, int]] = [
        ("GET", "/api/v1/activities/{activity_id}", "", None, 200),
        ("GET", "/api/v1/engagements/{engagement_id}", "?include=activities", None, 200),
        ("GET", "/api/v1/triggers", f"?filter[engagement]={engagement_id}", None, 200),
        ("GET", "/api/v1/triggers/{trigger_id}", "", None, 200),
        ("PATCH", "/api/v1/triggers/{trigger_id}", "", {"delay-in-seconds": 60}, 200),
        (
            "GET",
            "/api/v1/envelopes",
            "?filter[updated-at][gt]=2025-01-31T09:30:00Z&filter[exit-type]=failed",
            None,
            200,
        ),
        ("POST", "/api/v1/activities/{activity_id}/test-requests", "", {"order-id": "17"}, 200),
        ("POST", "/api/v1/activities/{activity_id}/test-requests", "", None, 200),
    ]
    client = app.test_client()
    for method, path, query, payload, status in requests:
        url = path.format(**ids) + query
        body = None
        if method == "PATCH":
            body = resource("triggers", payload, id_=ids["trigger_id"])
        elif payload is not None:
            body = {"data": {"type": "test-requests", "attributes": {"variables": payload}}}
        response = client.open(
            url,
            method=method,
            json=body,
            headers={**auth_headers(account), "Content-Type": JSONAPI},
        )
        assert response.status_code == status, (url, response.get_json())
        assert "secret" not in response.get_data(as_text=True).replace("client-secret", "")
        case = api_schema[path][method].Case(media_type=JSONAPI if body else None)
        case.validate_response(response, checks=CHECKS)


def test_timestamps_before_year_1000_are_written_as_rfc3339(api: ApiClient) -> None:
    """Found by the fuzzer: strftime("%Y") wrote year 402 as "402", not a date-time."""
    created = api.post(
        "/api/v1/engagements",
        resource(
            "engagements",
            {"name": "E", "delivery-type": "scheduled", "delivery-time": "0402-03-18T04:16:58Z"},
        ),
    )
    assert created.status == 201
    assert created.data["attributes"]["delivery-time"] == "0402-03-18T04:16:58.000000Z"


# schemathesis.pytest.from_fixture cannot run on pytest 9.2 (it sets the removed
# `Item._nodeid`), so each operation is a plain parametrized test around its Hypothesis strategy.
@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_fuzzed_requests_get_documented_answers(
    api_schema: Any, account: Credentials, method: str, path: str
) -> None:
    operation = api_schema[path][method]
    # Schema-valid requests exercise the success paths; invalid ones the error documents.
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )
    headers = auth_headers(account)

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    fuzz()


def test_fuzzed_workflows_following_the_links_get_documented_answers(
    api_schema: Any, account: Credentials, app: Flask
) -> None:
    """Create, then read, update and delete what was created, as the 201 links describe."""
    headers = auth_headers(account)

    class Workflow(api_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario starts from the same rows, so Hypothesis can replay a failing one.
            with app.app_context(), db.engine.begin() as connection:
                for table in reversed(db.metadata.sorted_tables):
                    if table.name not in ("accounts", "api_tokens"):
                        connection.execute(table.delete())

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(
                response, checks=CHECKS, headers=headers, transport_kwargs=kwargs
            )

    Workflow.run(
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
