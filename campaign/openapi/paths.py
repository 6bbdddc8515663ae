"""The OpenAPI description of the JSON:API wire format, derived from the resource schemas.

The views answer with `Response` objects of their own, so flask-smorest documents no bodies; this
package builds every document from the marshmallow-jsonapi schemas and attaches them, the query
parameters and the credentials to each operation, so `/api/openapi.json` describes the wire.
This module: the operations, their parameters and answers.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Api

from campaign.jsonapi import JSONAPI, JSONAPI_BULK
from campaign.listing import SORTABLE, Moment, OneOf
from campaign.openapi.collections import (
    COLLECTIONS,
    DELETE,
    ERRORS,
    ID,
    READ_MANY,
    READ_ONE,
    STRING,
    WRITE,
    Collection,
    enum_schema,
)
from campaign.openapi.components import (
    bulk_schemas,
    collection_schemas,
    ref,
    register_shared,
    test_request_schemas,
)
from campaign.resources.base import API_PREFIX, _includable
from campaign.resources.engagements import EngagementSchema

TEST_REQUESTS_PATH = f"{API_PREFIX}/activities/{{activity_id}}/test-requests"


def document_api(api: Api) -> None:
    """Describe JSON:API documents, parameters, responses and credentials for every operation."""
    spec = api.spec
    by_type = {collection.type_: collection for collection in COLLECTIONS}
    register_shared(spec)
    for collection in COLLECTIONS:
        schemas = collection_schemas(collection, api.ma_plugin.converter, by_type)
        if collection.bulk:
            schemas.update(bulk_schemas(collection, api.config["MAX_BULK"]))
        for name, schema in schemas.items():
            spec.components.schema(name, component=schema)
    # apispec keeps operations in `_paths` and serves that very dict; flask-smorest has already
    # put every blueprint's operations there, so they are completed in place.
    paths: dict[str, dict[str, Any]] = spec._paths
    for name, schema in test_request_schemas().items():
        spec.components.schema(name, component=schema)
    _document_test_requests(paths[TEST_REQUESTS_PATH])
    by_path = {
        path: path.removeprefix(f"{API_PREFIX}/").partition("/")
        for path in paths
        if path != TEST_REQUESTS_PATH
    }
    details = {type_: paths[path] for path, (type_, _, rest) in by_path.items() if rest}
    for path, (type_, _, rest) in by_path.items():
        if type_ in by_type:
            collection = by_type[type_]
            resource = spec.components.schemas[collection.name]
            filters = _filters(collection, resource)
            links = _links(collection, details.get(type_, {}))
            _document_path(
                paths[path],
                collection,
                bool(rest),
                links,
                filters=filters,
                max_page_size=api.config["MAX_PAGE_SIZE"],
            )


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "in": "query",
        "name": name,
        "required": False,
        "schema": schema,
        "description": description,
        **extra,
    }


def _include(collection: Collection) -> list[dict[str, Any]]:
    paths = _includable(collection.schema)
    if not paths:
        return []
    schema = {"type": "array", "uniqueItems": True, "items": enum_schema(paths)}
    return [
        _query(
            "include",
            schema,
            "related resources to add under `included`",
            style="form",
            explode=False,
        )
    ]


def _filters(collection: Collection, resource: dict[str, Any]) -> list[dict[str, Any]]:
    """`filter[name]` parameters: a relationship filters on ids, an attribute on its values
    (those of a `OneOf`), a `Moment` on comparisons (`filter[name][gt]`)."""
    members = resource["properties"]
    relationships = members.get("relationships", {}).get("properties", {})
    parameters = []
    for name, target in collection.filters.items():
        if isinstance(target, Moment):
            for operation in target.operators:
                parameters.append(
                    _query(
                        f"filter[{name}][{operation}]",
                        {**STRING, "format": "date-time"},
                        f"only rows whose {name} is {_COMPARED[operation]} this moment "
                        "(RFC 3339 with a time zone)",
                        example="2025-01-31T09:30:00.000000Z",
                    )
                )
            continue
        schema = enum_schema(list(target.values)) if isinstance(target, OneOf) else ID
        if not isinstance(target, OneOf) and name not in relationships:
            schema = {**STRING, "minLength": 1}
        parameters.append(_query(f"filter[{name}]", schema, f"only rows whose {name} is this"))
    return parameters


_COMPARED = {"gt": "after", "gte": "at or after", "lt": "before", "lte": "at or before"}


def _document_test_requests(item: dict[str, Any]) -> None:
    """`POST /activities/{id}/test-requests`: Test HTTP Request, its own body and answer."""
    for parameter in item.get("parameters", []):
        if parameter.get("in") == "path":
            parameter["schema"] = ID
    operation = item["post"]
    operation["operationId"] = "createTestRequest"
    operation["parameters"] = [IDEMPOTENCY_KEY]
    operation["description"] = (
        "Makes the web-call activity's request once with the sample variables, through the "
        "SSRF guard and within the activity's timeout; creates no run and changes nothing. "
        "The answer shows the request (secrets masked), the response (body up to 64 KiB), the "
        "variables it would extract, and whether it succeeded. 409 for another kind."
    )
    operation["requestBody"] = {
        **_content("TestRequestCreateDocument"),
        "required": False,
        "description": "optional: sample variables for the templates",
    }
    operation["responses"] = {
        "200": _content("TestRequestDocument", "what the call came to"),
        **_errors(*WRITE),
    }


def _list_parameters(collection: Collection, max_page_size: int) -> list[dict[str, Any]]:
    page_size = {"type": "integer", "minimum": 1, "maximum": max_page_size}
    parameters = [
        *_include(collection),
        _query(
            "sort",
            enum_schema([sign + key for key in SORTABLE for sign in ("", "-")]),
            "sort key, `-` for descending (default created-at)",
        ),
        _query("page[size]", page_size, "rows per page"),
        _query("page[after]", STRING, "cursor from `links.next` (not with page[before])"),
        _query("page[before]", STRING, "cursor from `links.prev`"),
    ]
    return parameters


def _links(collection: Collection, detail: dict[str, Any]) -> dict[str, Any]:
    """What a client can do next with the id a 201 answers with (fuzzers follow these too)."""
    names = [p["name"] for p in detail.get("parameters", []) if p.get("in") == "path"]
    if len(names) != 1:
        return {}
    links: dict[str, Any] = {}
    for method, verb in (("get", "get"), ("patch", "update"), ("delete", "delete")):
        if method in detail:
            link = {
                "operationId": verb + collection.name,
                "parameters": {names[0]: "$response.body#/data/id"},
            }
            if method == "patch":
                # The smallest valid update: the resource's identity, changing nothing.
                identity = {"type": collection.type_, "id": "{$response.body#/data/id}"}
                link["requestBody"] = {"data": identity}
            links[verb + collection.name] = link
    return links


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "the first answer under this key is stored for 24 h and replayed for the same "
    "request (Idempotent-Replayed: true); another request under it is 422, one while the first "
    "is in flight 409",
}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{ERRORS[code][0]}"} for code in codes}


def _content(document: str | dict[str, Any], description: str = "") -> dict[str, Any]:
    schema = ref(document) if isinstance(document, str) else document
    return {
        "description": description or "a JSON:API document",
        "content": {JSONAPI: {"schema": schema}},
    }


def _document_path(
    item: dict[str, Any],
    collection: Collection,
    detail: bool,
    links: dict[str, Any],
    *,
    filters: list[dict[str, Any]],
    max_page_size: int,
) -> None:
    """Fill in one path item's parameters, request bodies, responses and operation ids."""
    name = collection.name
    for parameter in item.get("parameters", []):
        if parameter.get("in") == "path":
            parameter["schema"] = ID
    for method, operation in item.items():
        if method == "get" and not detail:
            operation["operationId"] = "list" + collection.type_.title().replace("-", "")
            operation["parameters"] = [*_list_parameters(collection, max_page_size), *filters]
            operation["responses"] = {"200": _content(f"{name}ListDocument"), **_errors(*READ_MANY)}
        elif method == "get":
            operation["operationId"] = f"get{name}"
            operation["parameters"] = _include(collection)
            operation["responses"] = {"200": _content(f"{name}Document"), **_errors(*READ_ONE)}
        elif method == "post":
            operation["operationId"] = f"create{name}"
            operation["parameters"] = [IDEMPOTENCY_KEY]
            operation["requestBody"] = _create_body(collection)
            success = {"201": _created(collection, links)}
            if collection.idempotent_create:
                success["200"] = _existing(collection)
            operation["responses"] = {**success, **_errors(*WRITE)}
        elif method == "patch":
            operation["operationId"] = f"update{name}"
            operation["parameters"] = [*_include(collection), IDEMPOTENCY_KEY]
            operation["requestBody"] = {"required": True, **_content(f"{name}UpdateDocument")}
            success = {"200": _content(f"{name}Document")}
            if collection.schema is EngagementSchema:
                success["202"] = _content(f"{name}Document", "status scheduled: dispatching")
            operation["responses"] = {**success, **_errors(*WRITE)}
        elif method == "delete":
            operation["operationId"] = f"delete{name}"
            operation["responses"] = {"204": {"description": "deleted"}, **_errors(*DELETE)}


def _create_body(collection: Collection) -> dict[str, Any]:
    name = collection.name
    body = {"required": True, **_content(f"{name}CreateDocument")}
    if collection.bulk:
        either = {"oneOf": [ref(f"{name}CreateDocument"), ref(f"{name}BulkCreateDocument")]}
        body["description"] = f"one {collection.type_} resource, or an array with `ext=bulk`"
        body["content"][JSONAPI_BULK] = {"schema": either}
    return body


def _created(collection: Collection, links: dict[str, Any]) -> dict[str, Any]:
    name = collection.name
    location = {"schema": STRING, "required": True, "description": "the new resource's URL"}
    created = {**_content(f"{name}Document"), "headers": {"Location": location}}
    if collection.bulk:
        # Tools match responses on the bare media type, so that entry admits both shapes.
        either = {"oneOf": [ref(f"{name}Document"), ref(f"{name}BulkDocument")]}
        description = f"the new {collection.type_}, or with `ext=bulk` every one in order"
        created = _content(either, description)
        created["content"][JSONAPI_BULK] = {"schema": ref(f"{name}BulkDocument")}
        created["headers"] = {"Location": {**location, "required": False}}
    return {**created, "links": links} if links else created


def _existing(collection: Collection) -> dict[str, Any]:
    """The answer of a create that found everything it asked for already there."""
    name = collection.name
    description = f"already on file: the {collection.type_} as it is, nothing added"
    if not collection.bulk:
        return _content(f"{name}Document", description)
    either = {"oneOf": [ref(f"{name}Document"), ref(f"{name}BulkDocument")]}
    existing = _content(either, description)
    existing["content"][JSONAPI_BULK] = {"schema": ref(f"{name}BulkDocument")}
    return existing
