"""The component schemas: JSON:API documents, resources and linkage of every collection,
built from the marshmallow-jsonapi schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apispec import APISpec
from marshmallow_jsonapi.fields import BaseRelationship

from campaign.jsonapi import JSONAPI
from campaign.openapi.collections import ERRORS, ID, OBJECT, STRING, Collection, enum_schema
from campaign.resources.base import _includable
from campaign.resources.test_requests import TestRequestSchema
from campaign.services.envelope_input import MAX_META_KEY_LENGTH


def register_shared(spec: APISpec) -> None:
    """Credentials, the error document, and the error responses every operation refers to."""
    components = spec.components
    # flask-smorest's `application/json` error body and page metadata are never sent here.
    components.schemas.pop("Error", None)
    components.schemas.pop("PaginationMetadata", None)
    components.responses.pop("DEFAULT_ERROR", None)
    components.security_scheme(
        "basicAuth",
        {
            "type": "http",
            "scheme": "basic",
            "description": "base64(TOKENKEY:SECRET); `Authorization: Token TOKENKEY:SECRET` "
            "works too",
        },
    )
    components.security_scheme(
        "accountKey",
        {
            "type": "apiKey",
            "in": "header",
            "name": "X-Account-Key",
            "description": "the key of the account the token belongs to",
        },
    )
    spec.options["security"] = [{"basicAuth": [], "accountKey": []}]
    source = _object({"pointer": STRING, "parameter": STRING, "header": STRING})
    error = _object(
        {
            "status": {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
            "title": STRING,
            "detail": STRING,
            "source": source,
        },
        ["status", "title", "detail"],
    )
    components.schema("JsonApi", component=_object({"version": STRING}))
    components.schema("Error", component=error)
    components.schema(
        "ErrorDocument",
        component=_object(
            {
                "errors": {"type": "array", "minItems": 1, "items": ref("Error")},
                "jsonapi": ref("JsonApi"),
            },
            ["errors"],
        ),
    )
    for name, description in ERRORS.values():
        response: dict[str, Any] = {
            "description": description,
            "content": {JSONAPI: {"schema": ref("ErrorDocument")}},
        }
        if name == "Unauthorized":
            response["headers"] = {"WWW-Authenticate": {"schema": STRING, "required": True}}
        components.response(name, component=response)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(
    properties: dict[str, Any], required: list[str] | tuple[str, ...] = (), **extra: Any
) -> dict[str, Any]:
    """A closed object: members the server never sends or never accepts are not allowed."""
    schema = {"type": "object", "properties": properties, "additionalProperties": False, **extra}
    return {**schema, "required": list(required)} if required else schema


def _fields(collection: Collection) -> tuple[dict[str, Any], dict[str, BaseRelationship]]:
    """The bound fields by wire name (dasherized, or `data_key`): attributes, relationships."""
    attributes: dict[str, Any] = {}
    relationships: dict[str, BaseRelationship] = {}
    for name, bound in collection.schema().fields.items():
        if name == "id":
            continue
        wire = bound.data_key or name
        if isinstance(bound, BaseRelationship):
            relationships[wire] = bound
        else:
            attributes[wire] = bound
    return attributes, relationships


def _linkage(bound: BaseRelationship, *, nullable: bool) -> dict[str, Any]:
    identifier = _object({"type": enum_schema([bound.type_]), "id": ID}, ["type", "id"])
    if bound.many:
        return {"type": "array", "items": identifier}
    return {**identifier, "nullable": True} if nullable else identifier


def _may_be_null(collection: Collection, bound: BaseRelationship) -> bool:
    column = getattr(bound, "id_attribute", None)
    if column is None:
        return True  # read from the relationship itself, which may not exist yet
    return bool(collection.model.__table__.columns[column].nullable)


def collection_schemas(
    collection: Collection, converter: Any, by_type: dict[str, Collection]
) -> dict[str, dict[str, Any]]:
    """The resource object and the documents of one type, by component name."""
    name = collection.name
    attributes, relationships = _fields(collection)
    properties = {
        wire: collection.attributes.get(wire) or converter.field2property(bound)
        for wire, bound in attributes.items()
    }
    members: dict[str, Any] = {
        "type": enum_schema([collection.type_]),
        "id": ID,
        "attributes": _object(properties, list(properties)),
        "links": _object({"self": STRING}, ["self"]),
    }
    if relationships:
        members["relationships"] = _object(
            {
                wire: _object(
                    {"data": _linkage(bound, nullable=_may_be_null(collection, bound))}, ["data"]
                )
                for wire, bound in relationships.items()
            },
            list(relationships),
        )
    # The very rule the views apply to `include=`, so the types listed are the ones sent.
    included = list(
        dict.fromkeys(relationships[path].type_ for path in _includable(collection.schema))
    )
    single = {"data": ref(name), "links": _object({"self": STRING}), "jsonapi": ref("JsonApi")}
    page_links = {
        "self": STRING,
        "next": {**STRING, "nullable": True},
        "prev": {**STRING, "nullable": True},
    }
    listing = {
        "data": {"type": "array", "items": ref(name)},
        "links": _object(page_links, list(page_links)),
        "jsonapi": ref("JsonApi"),
    }
    if included:
        single["included"] = listing["included"] = {
            "type": "array",
            "items": {"oneOf": [ref(by_type[kind].name) for kind in included]},
        }
    schemas = {
        name: _object(members, list(members)),
        f"{name}Document": _object(single, ["data"]),
        f"{name}ListDocument": _object(listing, ["data", "links"]),
    }
    writable = {wire: bound for wire, bound in attributes.items() if not bound.dump_only}
    linkable = {wire: bound for wire, bound in relationships.items() if not bound.dump_only}
    if writable or linkable:
        written = {wire: collection.writes.get(wire) or properties[wire] for wire in writable}
        create = {wire: collection.create.get(wire) or written[wire] for wire in writable}
        # On update nothing is required and nothing defaults: an absent member stays as it is.
        update = {
            wire: {k: v for k, v in written[wire].items() if k != "default"} for wire in writable
        }
        movable = {wire: bound for wire, bound in linkable.items() if wire not in collection.fixed}
        movable.update({wire: relationships[wire] for wire in collection.updatable})
        schemas[f"{name}Create"] = _request_resource(
            collection, create, writable, linkable, linked=collection.create_links
        )
        schemas[f"{name}CreateDocument"] = _object(
            {"data": ref(f"{name}Create"), "meta": OBJECT}, ["data"]
        )
        schemas[f"{name}UpdateDocument"] = _object(
            {
                "data": _request_resource(collection, update, {}, movable, update=True),
                "meta": OBJECT,
            },
            ["data"],
        )
    return schemas


def _request_resource(
    collection: Collection,
    attributes: dict[str, Any],
    required_from: Mapping[str, Any],
    relationships: Mapping[str, BaseRelationship],
    *,
    update: bool = False,
    linked: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """A resource object as clients send it; required members come from the fields' `required`
    (relationships from `linked` when given)."""
    members: dict[str, Any] = {"type": enum_schema([collection.type_])}
    needed = ["type"]
    if update:
        members["id"] = {**ID, "description": "the id in the URL (409 otherwise)"}
        needed.append("id")
    wanted = [wire for wire, bound in required_from.items() if bound.required]
    members["attributes"] = _object(attributes, wanted)
    needed += ["attributes"] if wanted else []
    if relationships:
        if update:
            linked = ()
        elif linked is None:
            linked = tuple(wire for wire, b in relationships.items() if b.required)
        members["relationships"] = _object(
            {
                wire: _object({"data": _linkage(bound, nullable=False)}, ["data"])
                for wire, bound in relationships.items()
            },
            list(linked),
        )
        needed += ["relationships"] if linked else []
    members["meta"] = OBJECT
    return _object(members, needed)


def bulk_schemas(collection: Collection, max_bulk: int) -> dict[str, dict[str, Any]]:
    """The `ext=bulk` documents: a `data` array in, every created resource out, in order."""
    name = collection.name
    entries = {"type": "array", "minItems": 1, "maxItems": max_bulk, "items": ref(f"{name}Create")}
    return {
        f"{name}BulkCreateDocument": _object(
            {"data": entries, "meta": OBJECT},
            ["data"],
            description="all or nothing: every invalid entry is reported with its pointer",
        ),
        f"{name}BulkDocument": _object(
            {"data": {"type": "array", "items": ref(name)}, "jsonapi": ref("JsonApi")}, ["data"]
        ),
    }


def test_request_schemas() -> dict[str, dict[str, Any]]:
    """Test HTTP Request's body (optional sample variables) and its answer."""
    type_ = enum_schema([TestRequestSchema.Meta.type_])
    sample = {
        "type": "object",
        "additionalProperties": {"anyOf": [STRING, {"type": "number"}, {"type": "boolean"}]},
        "description": "sample variables, as an envelope's meta: flat, keys of 1 to "
        f"{MAX_META_KEY_LENGTH} characters, at most CAMPAIGN_MAX_META_BYTES",
    }
    headers = {"type": "object", "additionalProperties": STRING}
    sent = _object(
        {"method": STRING, "url": STRING, "headers": headers},
        ["method", "url", "headers"],
        description="the request sent, secrets masked; null when the templates made none",
        nullable=True,
    )
    answered = _object(
        {
            "status": {"type": "integer"},
            "headers": headers,
            "body": {**STRING, "description": "up to 64 KiB, as UTF-8 (bad bytes replaced)"},
        },
        ["status", "headers", "body"],
        description="null when no answer came",
        nullable=True,
    )
    attributes = {
        "created-at": {**STRING, "format": "date-time"},
        "variables": {
            "type": "object",
            "additionalProperties": STRING,
            "description": "what the answer gives (empty unless it succeeded)",
        },
        "request": sent,
        "response": answered,
        "success": {"type": "boolean"},
        "reason": {**STRING, "nullable": True, "description": "why it failed"},
    }
    activity = _object(
        {"data": _object({"type": enum_schema(["activities"]), "id": ID}, ["type", "id"])},
        ["data"],
    )
    resource = _object(
        {
            "type": type_,
            "id": ID,
            "attributes": _object(attributes, list(attributes)),
            "relationships": _object({"activity": activity}, ["activity"]),
        },
        ["type", "id", "attributes", "relationships"],
    )
    created = _object(
        {
            "type": type_,
            "attributes": _object({"variables": {**sample, "nullable": True}}),
            "meta": OBJECT,
        },
        ["type"],
    )
    return {
        "TestRequest": resource,
        "TestRequestDocument": _object(
            {"data": ref("TestRequest"), "jsonapi": ref("JsonApi")}, ["data"]
        ),
        "TestRequestCreateDocument": _object({"data": created, "meta": OBJECT}, ["data"]),
    }
