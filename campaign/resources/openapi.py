"""The OpenAPI description of the JSON:API wire format, derived from the resource schemas.

The views answer with `Response` objects of their own, so flask-smorest documents no bodies; this
module builds every document from the marshmallow-jsonapi schemas and attaches them, the query
parameters and the credentials to each operation, so `/api/openapi.json` describes the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from apispec import APISpec
from flask_smorest import Api
from marshmallow_jsonapi.fields import BaseRelationship

from campaign.jsonapi import JSONAPI, JSONAPI_BULK
from campaign.listing import SORTABLE
from campaign.models import (
    Activity,
    ActivityKind,
    Engagement,
    EngagementStatus,
    Envelope,
    EnvelopeStatus,
    PhoneNumber,
    Text,
    TextStatus,
    TextTemplate,
)
from campaign.models.base import ID_ALPHABET, ID_LENGTH
from campaign.resources.activities import ActivitySchema
from campaign.resources.base import API_PREFIX, ResourceSchema, _includable
from campaign.resources.engagements import EngagementSchema
from campaign.resources.envelopes import EnvelopeSchema
from campaign.resources.phone_numbers import PhoneNumberSchema
from campaign.resources.text_templates import TextTemplateSchema
from campaign.resources.texts import TextSchema
from campaign.services.envelope_input import MAX_META_KEY_LENGTH

ID = {"type": "string", "pattern": f"^[{ID_ALPHABET}]{{{ID_LENGTH}}}$"}
STRING = {"type": "string"}
OBJECT = {"type": "object"}


def _enum(values: list[str] | type[StrEnum], **extra: Any) -> dict[str, Any]:
    return {"type": "string", "enum": [str(value) for value in values], **extra}


@dataclass(frozen=True)
class Collection:
    """One JSON:API type as its views serve it, with what its schema alone does not say.

    `filters` repeats the names its list view passes to `list_response`; `fixed` names the
    relationships a PATCH may not change (409); `attributes` and `create` replace field schemas
    where the services accept less than the field type allows.
    """

    schema: type[ResourceSchema]
    model: type  # a to-one linkage may be null when its foreign-key column may
    filters: tuple[str, ...] = ()
    fixed: frozenset[str] = frozenset()
    attributes: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    create: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def type_(self) -> str:
        return self.schema.Meta.type_

    @property
    def name(self) -> str:
        return self.schema.__name__.removesuffix("Schema")


_META = {
    "type": "object",
    "additionalProperties": {"anyOf": [STRING, {"type": "number"}, {"type": "boolean"}]},
    "description": "flat object for the template's variables; keys of 1 to "
    f"{MAX_META_KEY_LENGTH} characters, at most CAMPAIGN_MAX_META_BYTES",
}
COLLECTIONS = (
    Collection(PhoneNumberSchema, PhoneNumber, filters=("number",)),
    Collection(TextTemplateSchema, TextTemplate),
    Collection(
        EngagementSchema,
        Engagement,
        filters=("status",),
        create={"status": _enum([EngagementStatus.PENDING], description="always pending")},
    ),
    Collection(
        ActivitySchema,
        Activity,
        filters=("engagement", "text-template", "phone-number"),
        fixed=frozenset({"engagement"}),
        attributes={
            "kind": _enum([ActivityKind.TEXT], description="other Omnigage kinds are a 400"),
            "status": _enum(
                EngagementStatus, readOnly=True, description="the status of its engagement"
            ),
        },
    ),
    Collection(
        EnvelopeSchema,
        Envelope,
        filters=("engagement", "activity", "status", "phone-number"),
        fixed=frozenset({"engagement"}),
        attributes={"meta": _META, "status": _enum(EnvelopeStatus, readOnly=True)},
    ),
    Collection(
        TextSchema,
        Text,
        filters=("engagement", "envelope", "status"),
        attributes={"status": _enum(TextStatus, readOnly=True)},
    ),
)
ERRORS = {
    "400": ("BadRequest", "Malformed document, invalid attribute or unsupported query parameter"),
    "401": ("Unauthorized", "Missing or wrong X-Account-Key or token"),
    "403": ("Forbidden", "The token belongs to another account, or a client-generated id"),
    "404": ("NotFound", "No such resource in this account"),
    "406": ("NotAcceptable", "The Accept header allows no application/vnd.api+json response"),
    "409": ("Conflict", "Wrong type, an id that differs from the URL, or a refused transition"),
    "413": ("PayloadTooLarge", "More envelopes than CAMPAIGN_MAX_BULK, or too large a body"),
    "415": ("UnsupportedMediaType", "A Content-Type other than JSON:API (ext/profile allowed)"),
}
READ_ONE = ("400", "401", "403", "404", "406")
READ_MANY = ("400", "401", "403", "406")
WRITE = ("400", "401", "403", "404", "406", "409", "413", "415")
DELETE = ("401", "403", "404", "406", "409")


def document_api(api: Api) -> None:
    """Describe JSON:API documents, parameters, responses and credentials for every operation."""
    spec = api.spec
    by_type = {collection.type_: collection for collection in COLLECTIONS}
    _register_shared(spec)
    for collection in COLLECTIONS:
        schemas = _collection_schemas(collection, api.ma_plugin.converter, by_type)
        if collection.schema is EnvelopeSchema:
            schemas.update(_bulk_schemas(collection, api.config["MAX_BULK"]))
        for name, schema in schemas.items():
            spec.components.schema(name, component=schema)
    # apispec keeps operations in `_paths` and serves that very dict; flask-smorest has already
    # put every blueprint's operations there, so they are completed in place.
    paths: dict[str, dict[str, Any]] = spec._paths
    by_path = {path: path.removeprefix(f"{API_PREFIX}/").partition("/") for path in paths}
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


def _register_shared(spec: APISpec) -> None:
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
                "errors": {"type": "array", "minItems": 1, "items": _ref("Error")},
                "jsonapi": _ref("JsonApi"),
            },
            ["errors"],
        ),
    )
    for name, description in ERRORS.values():
        response: dict[str, Any] = {
            "description": description,
            "content": {JSONAPI: {"schema": _ref("ErrorDocument")}},
        }
        if name == "Unauthorized":
            response["headers"] = {"WWW-Authenticate": {"schema": STRING, "required": True}}
        components.response(name, component=response)


def _ref(name: str) -> dict[str, str]:
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
    identifier = _object({"type": _enum([bound.type_]), "id": ID}, ["type", "id"])
    if bound.many:
        return {"type": "array", "items": identifier}
    return {**identifier, "nullable": True} if nullable else identifier


def _may_be_null(collection: Collection, bound: BaseRelationship) -> bool:
    column = getattr(bound, "id_attribute", None)
    if column is None:
        return True  # read from the relationship itself, which may not exist yet
    return bool(collection.model.__table__.columns[column].nullable)


def _collection_schemas(
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
        "type": _enum([collection.type_]),
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
    single = {"data": _ref(name), "links": _object({"self": STRING}), "jsonapi": _ref("JsonApi")}
    page_links = {
        "self": STRING,
        "next": {**STRING, "nullable": True},
        "prev": {**STRING, "nullable": True},
    }
    listing = {
        "data": {"type": "array", "items": _ref(name)},
        "links": _object(page_links, list(page_links)),
        "jsonapi": _ref("JsonApi"),
    }
    if included:
        single["included"] = listing["included"] = {
            "type": "array",
            "items": {"oneOf": [_ref(by_type[kind].name) for kind in included]},
        }
    schemas = {
        name: _object(members, list(members)),
        f"{name}Document": _object(single, ["data"]),
        f"{name}ListDocument": _object(listing, ["data", "links"]),
    }
    writable = {wire: bound for wire, bound in attributes.items() if not bound.dump_only}
    linkable = {wire: bound for wire, bound in relationships.items() if not bound.dump_only}
    if writable or linkable:
        create = {wire: collection.create.get(wire) or properties[wire] for wire in writable}
        # On update nothing is required and nothing defaults: an absent member stays as it is.
        update = {
            wire: {k: v for k, v in properties[wire].items() if k != "default"} for wire in writable
        }
        movable = {wire: bound for wire, bound in linkable.items() if wire not in collection.fixed}
        schemas[f"{name}Create"] = _request_resource(collection, create, writable, linkable)
        schemas[f"{name}CreateDocument"] = _object(
            {"data": _ref(f"{name}Create"), "meta": OBJECT}, ["data"]
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
) -> dict[str, Any]:
    """A resource object as clients send it; required members come from the fields' `required`."""
    members: dict[str, Any] = {"type": _enum([collection.type_])}
    needed = ["type"]
    if update:
        members["id"] = {**ID, "description": "the id in the URL (409 otherwise)"}
        needed.append("id")
    wanted = [wire for wire, bound in required_from.items() if bound.required]
    members["attributes"] = _object(attributes, wanted)
    needed += ["attributes"] if wanted else []
    if relationships:
        linked = [] if update else [wire for wire, b in relationships.items() if b.required]
        members["relationships"] = _object(
            {
                wire: _object({"data": _linkage(bound, nullable=False)}, ["data"])
                for wire, bound in relationships.items()
            },
            linked,
        )
        needed += ["relationships"] if linked else []
    members["meta"] = OBJECT
    return _object(members, needed)


def _bulk_schemas(collection: Collection, max_bulk: int) -> dict[str, dict[str, Any]]:
    """The `ext=bulk` documents: a `data` array in, every created resource out, in order."""
    name = collection.name
    entries = {"type": "array", "minItems": 1, "maxItems": max_bulk, "items": _ref(f"{name}Create")}
    return {
        f"{name}BulkCreateDocument": _object(
            {"data": entries, "meta": OBJECT},
            ["data"],
            description="all or nothing: every invalid entry is reported with its pointer",
        ),
        f"{name}BulkDocument": _object(
            {"data": {"type": "array", "items": _ref(name)}, "jsonapi": _ref("JsonApi")}, ["data"]
        ),
    }


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
    schema = {"type": "array", "uniqueItems": True, "items": _enum(paths)}
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
    """`filter[name]` parameters: a relationship filters on ids, an attribute on its values."""
    members = resource["properties"]
    relationships = members.get("relationships", {}).get("properties", {})
    attributes = members["attributes"]["properties"]
    parameters = []
    for name in collection.filters:
        words = attributes.get(name, {}).get("enum")
        schema = _enum(words) if words else {**STRING, "minLength": 1}
        if name in relationships:
            schema = ID
        parameters.append(_query(f"filter[{name}]", schema, f"only rows whose {name} is this"))
    return parameters


def _list_parameters(collection: Collection, max_page_size: int) -> list[dict[str, Any]]:
    page_size = {"type": "integer", "minimum": 1, "maximum": max_page_size}
    parameters = [
        *_include(collection),
        _query(
            "sort",
            _enum([sign + key for key in SORTABLE for sign in ("", "-")]),
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


def _errors(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/{ERRORS[code][0]}"} for code in codes}


def _content(document: str | dict[str, Any], description: str = "") -> dict[str, Any]:
    schema = _ref(document) if isinstance(document, str) else document
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
            operation["requestBody"] = _create_body(collection)
            operation["responses"] = {"201": _created(collection, links), **_errors(*WRITE)}
        elif method == "patch":
            operation["operationId"] = f"update{name}"
            operation["parameters"] = _include(collection)
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
    if collection.schema is EnvelopeSchema:
        either = {"oneOf": [_ref(f"{name}CreateDocument"), _ref(f"{name}BulkCreateDocument")]}
        body["description"] = "one envelope, or an array of them with `ext=bulk`"
        body["content"][JSONAPI_BULK] = {"schema": either}
    return body


def _created(collection: Collection, links: dict[str, Any]) -> dict[str, Any]:
    name = collection.name
    location = {"schema": STRING, "required": True, "description": "the new resource's URL"}
    created = {**_content(f"{name}Document"), "headers": {"Location": location}}
    if collection.schema is EnvelopeSchema:
        # Tools match responses on the bare media type, so that entry admits both shapes.
        either = {"oneOf": [_ref(f"{name}Document"), _ref(f"{name}BulkDocument")]}
        created = _content(either, "the envelope, or with `ext=bulk` every envelope in order")
        created["content"][JSONAPI_BULK] = {"schema": _ref(f"{name}BulkDocument")}
        created["headers"] = {"Location": {**location, "required": False}}
    return {**created, "links": links} if links else created
