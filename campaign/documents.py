"""Reading request documents: JSON parsing and the JSON:API shape checks that come before `load()`.

marshmallow-jsonapi assumes a well-formed document (it raises on `[1,2]`, `null` or
`{"data": null}`), so every structural rule is checked here first, each failure with its pointer.

This layer knows the request's document, so it also turns the services' places inside a
resource object (`ApiError.at`) into pointers into it (`rebase_to_request`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from flask import Request, g
from marshmallow import ValidationError
from marshmallow_jsonapi import Schema
from marshmallow_jsonapi.fields import BaseRelationship

from campaign.errors import (
    PRIMARY_RESOURCE,
    ApiError,
    ApiErrors,
    Conflict,
    Forbidden,
    InvalidAttribute,
    InvalidDocument,
    InvalidParameter,
    pointer_to,
)
from campaign.jsonapi import request_extensions

_RESOURCE_MEMBERS = frozenset({"type", "id", "lid", "attributes", "relationships", "links", "meta"})
_DOCUMENT_MEMBERS = frozenset({"data", "included", "meta", "links", "jsonapi"})
# A write answers with one resource: `include` is the only query parameter that can apply.
_WRITE_PARAMETERS = frozenset({"include"})
# Objects and arrays inside one another, counting the document itself. Our deepest documents
# (a relationship's linkage inside a bulk entry) need 6; orjson alone stops only at 1024,
# deeper than Python code that walks a value may recurse.
MAX_NESTING = 32
_CONTAINERS = (dict, list)
# Set on `g` once the request's document is read: whether its primary data is an array.
_PRIMARY_DATA_IS_ARRAY = "campaign_primary_data_is_array"


@dataclass(frozen=True)
class Document:
    """A parsed request body: its primary data and whether it came with `ext=bulk`."""

    data: dict[str, Any] | list[Any]
    bulk: bool


def read_document(request: Request, *, bulk_allowed: bool = False) -> Document:
    """Negotiate, parse and shape-check the request body's top level.

    Unsupported query parameters are refused here too, before the view changes anything.
    """
    extensions = request_extensions(request)
    for name in request.args:
        if name not in _WRITE_PARAMETERS:
            raise InvalidParameter(f"unsupported query parameter {name!r}", parameter=name)
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise InvalidDocument("the request body is empty; send a JSON:API document", pointer="")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidDocument(f"the request body is not valid JSON: {exc}", pointer="") from None
    if not _nesting_within(document, MAX_NESTING):
        raise InvalidDocument(
            f"the document nests objects and arrays more than {MAX_NESTING} deep",
            pointer=_too_deep_pointer(document, MAX_NESTING),
        )
    # PostgreSQL cannot store U+0000 in text or jsonb; JSON can only carry it escaped.
    if b"\\u0000" in raw:
        at = _nul_pointer(document, "")
        if at is not None:
            raise InvalidDocument("strings may not contain the NUL character (\\u0000)", pointer=at)
    if not isinstance(document, dict):
        raise InvalidDocument("a JSON:API document must be a JSON object", pointer="")
    unknown = sorted(set(document) - _DOCUMENT_MEMBERS)
    if unknown:
        raise InvalidDocument(
            f"{unknown[0]!r} is not a member of a JSON:API document",
            pointer=pointer_to("", unknown[0]),
        )
    if "data" not in document:
        raise InvalidDocument("the document must have a 'data' member", pointer="")
    data = document["data"]
    bulk = "bulk" in extensions
    if isinstance(data, list):
        if not bulk_allowed:
            raise InvalidDocument("this endpoint takes a single resource object", pointer="/data")
        if not bulk:
            raise InvalidDocument(
                "an array of resources needs Content-Type 'application/vnd.api+json; ext=bulk'",
                pointer="/data",
            )
        setattr(g, _PRIMARY_DATA_IS_ARRAY, True)
        return Document(data, bulk=True)
    if not isinstance(data, dict):
        raise InvalidDocument("'data' must be a resource object", pointer="/data")
    return Document(data, bulk=bulk)


def rebase_to_request(errors: Iterable[ApiError]) -> None:
    """Point each error's `at` into this request's document: under `/data/{item}` when its
    primary data is an array of resource objects, under `/data` otherwise."""
    array = g.get(_PRIMARY_DATA_IS_ARRAY, False)
    for error in errors:
        root = (
            f"{PRIMARY_RESOURCE}/{error.item}"
            if array and error.item is not None
            else PRIMARY_RESOURCE
        )
        error.rebase(root)


def _nesting_within(document: Any, limit: int) -> bool:
    """Whether no object or array lies deeper than `limit` levels; one pass per level."""
    level = [document] if type(document) in _CONTAINERS else []
    for _ in range(limit):
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) in _CONTAINERS
        ]
        if not level:
            return True
    return False


def _children(value: Any, at: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [(pointer_to(at, key), item) for key, item in value.items()]
    if isinstance(value, list):
        return [(f"{at}/{index}", item) for index, item in enumerate(value)]
    return []


def _too_deep_pointer(document: Any, limit: int) -> str:
    """The pointer of the first container past `limit` levels (depth-first, without recursion)."""
    stack = [("", document, 1)]
    while stack:
        at, value, depth = stack.pop()
        if depth > limit:
            return at
        children = [(p, v) for p, v in _children(value, at) if type(v) in _CONTAINERS]
        stack.extend((p, v, depth + 1) for p, v in reversed(children))
    return ""


def _nul_pointer(value: Any, at: str) -> str | None:
    """The JSON pointer of the first string (member name or value) holding U+0000, if any.

    Depth-first with a stack: the document's nesting is bounded, but this must not recurse.
    """
    stack = [(at, value)]
    while stack:
        at, value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return at
        elif isinstance(value, dict) and any("\x00" in key for key in value):
            return next(pointer_to(at, key) for key in value if "\x00" in key)
        else:
            stack.extend(reversed(_children(value, at)))
    return None


def check_resource(
    resource: Any, type_: str, *, pointer: str = "/data", id_: str | None = None
) -> list[ApiError]:
    """Shape errors of one resource object; empty when it may be loaded.

    `id_` is the id in the URL for an update; creation refuses client-generated ids.
    """
    if not isinstance(resource, dict):
        return [InvalidDocument("a resource object must be a JSON object", pointer=pointer)]
    errors: list[ApiError] = []
    for member in sorted(set(resource) - _RESOURCE_MEMBERS):
        errors.append(
            InvalidDocument(
                f"{member!r} is not a member of a resource object",
                pointer=pointer_to(pointer, member),
            )
        )
    kind = resource.get("type")
    if not isinstance(kind, str):
        errors.append(InvalidDocument("'type' must be a string", pointer=f"{pointer}/type"))
    elif kind != type_:
        errors.append(
            Conflict(
                f"'type' must be {type_!r} at this endpoint, not {kind!r}",
                pointer=f"{pointer}/type",
            )
        )
    if id_ is None:
        if "id" in resource:
            errors.append(
                Forbidden(
                    "client-generated ids are not supported; omit 'id'", pointer=f"{pointer}/id"
                )
            )
    elif not isinstance(resource.get("id"), str):
        errors.append(InvalidDocument("'id' must be a string", pointer=f"{pointer}/id"))
    elif resource["id"] != id_:
        errors.append(
            Conflict(
                f"'id' {resource['id']!r} does not match the URL's {id_!r}", pointer=f"{pointer}/id"
            )
        )
    for member in ("attributes", "relationships", "meta"):
        if member in resource and not isinstance(resource[member], dict):
            errors.append(
                InvalidDocument(f"'{member}' must be a JSON object", pointer=f"{pointer}/{member}")
            )
    relationships = resource.get("relationships")
    if isinstance(relationships, dict):
        for name, relationship in relationships.items():
            errors.extend(
                _check_relationship(relationship, pointer_to(f"{pointer}/relationships", name))
            )
    return errors


def _check_relationship(relationship: Any, pointer: str) -> list[ApiError]:
    if not isinstance(relationship, dict) or "data" not in relationship:
        return [InvalidDocument("a relationship must be an object with 'data'", pointer=pointer)]
    linkage = relationship["data"]
    items = linkage if isinstance(linkage, list) else [linkage]
    errors: list[ApiError] = []
    for index, item in enumerate(items):
        at = f"{pointer}/data" + (f"/{index}" if isinstance(linkage, list) else "")
        if item is None and not isinstance(linkage, list):
            continue
        if not isinstance(item, dict):
            errors.append(InvalidDocument("resource linkage must be {type, id}", pointer=at))
            continue
        for member in ("type", "id"):
            if not isinstance(item.get(member), str):
                errors.append(
                    InvalidDocument(
                        f"resource linkage needs a string '{member}'", pointer=f"{at}/{member}"
                    )
                )
    return errors


def check_members(
    resource: dict[str, Any], schema: Schema, pointer: str = "/data"
) -> list[ApiError]:
    """Errors for attributes and relationships the schema does not accept from clients."""
    loadable: dict[str, Any] = {}
    read_only: set[str] = set()
    for field in schema.fields.values():
        name = field.data_key or field.name
        if field.dump_only:
            read_only.add(name)
        else:
            loadable[name] = field
    errors: list[ApiError] = []
    for member, relationship in (("attributes", False), ("relationships", True)):
        for name in resource.get(member) or {}:
            at = pointer_to(f"{pointer}/{member}", name)
            field = loadable.get(name)
            if name in read_only:
                errors.append(InvalidAttribute(f"{name!r} is read-only", pointer=at))
            elif field is None or isinstance(field, BaseRelationship) != relationship:
                kind = "relationship" if relationship else "attribute"
                errors.append(InvalidAttribute(f"unknown {kind} {name!r}", pointer=at))
    return errors


def load_resource(
    schema: Schema, resource: Any, *, id_: str | None = None, partial: bool = False
) -> dict[str, Any]:
    """Shape-check `resource` and load it with `schema`; raise ApiErrors with pointers."""
    errors = check_resource(resource, schema.opts.type_, id_=id_)
    if not errors:
        errors = check_members(resource, schema)
    if errors:
        raise ApiErrors(errors)
    # Identity was checked above; resource `meta`, `links` and `lid` carry nothing to store.
    body = {
        key: resource[key] for key in ("type", "attributes", "relationships") if key in resource
    }
    try:
        loaded = schema.load({"data": body}, partial=partial)
    except ValidationError as exc:
        raise ApiErrors(_validation_errors(exc, schema)) from None
    return loaded


def _validation_errors(exc: ValidationError, schema: Schema) -> list[ApiError]:
    messages = exc.messages
    entries = messages.get("errors", []) if isinstance(messages, dict) else messages
    # marshmallow-jsonapi points a missing dasherized relationship (`text-template`) at
    # /data/attributes/...; point it where the client has to add it.
    relationships = {
        field.data_key or field.name
        for field in schema.fields.values()
        if isinstance(field, BaseRelationship)
    }
    errors = []
    for entry in entries:
        detail = entry.get("detail", "invalid value") if isinstance(entry, dict) else str(entry)
        pointer = (
            entry.get("source", {}).get("pointer", "/data") if isinstance(entry, dict) else "/data"
        )
        prefix, _, name = pointer.rpartition("/")
        if prefix == "/data/attributes" and name in relationships:
            pointer = f"/data/relationships/{name}/data"
        errors.append(InvalidAttribute(detail, pointer=pointer))
    return errors or [InvalidDocument("the document is invalid", pointer="/data")]
