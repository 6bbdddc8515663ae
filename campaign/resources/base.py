"""What every resource module shares: the schema base, its field types, and the list/read views.

Schemas are marshmallow-jsonapi schemas with dasherized names. Relationships render their linkage
from the foreign-key column (no extra query per row) and load the related row only when included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, request
from marshmallow import ValidationError
from marshmallow import fields as ma_fields
from marshmallow_jsonapi import Schema, fields
from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from campaign.auth import current_account
from campaign.errors import NotFound
from campaign.extensions import db
from campaign.jsonapi import document_response
from campaign.listing import Moment, OneOf, paginate, parse_detail_query, parse_list_query
from campaign.moments import MomentOutOfRange, to_utc

API_PREFIX = "/api/v1"


def dasherize(name: str) -> str:
    return name.replace("_", "-")


def format_timestamp(value: datetime | None) -> str | None:
    """`YYYY-MM-DDThh:mm:ss.ssssssZ` in UTC, or None."""
    if value is None:
        return None
    # isoformat, unlike strftime("%Y"), zero-pads years before 1000 as RFC 3339 requires.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class Timestamp(ma_fields.DateTime):
    """UTC with microseconds, `YYYY-MM-DDThh:mm:ss.ssssssZ`, as TextIt and Omnigage write it."""

    def _serialize(self, value: datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return format_timestamp(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        if moment.tzinfo is None:
            raise self.make_error("invalid", input=value, obj_type="datetime with a time zone")
        try:
            return to_utc(moment)
        except MomentOutOfRange as exc:
            raise ValidationError(f"Not a valid datetime: {exc}.") from None


class Related(fields.Relationship):
    """A relationship whose linkage comes from `<name>_id` unless the related row is included."""

    def __init__(self, type_: str, *, id_attribute: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("include_resource_linkage", True)
        super().__init__(type_=type_, **kwargs)
        self.id_attribute = id_attribute

    def serialize(self, attr: str, obj: Any, accessor: Any = None) -> Any:
        if self.id_attribute and not self.include_data:
            return self._serialize(getattr(obj, self.id_attribute), attr, obj)
        return super().serialize(attr, obj, accessor)

    def _get_id(self, value: Any) -> Any:
        return value if isinstance(value, str) else value.id


class ResourceSchema(Schema):
    """Base of every resource schema: string ids, dasherized names, timestamps."""

    id = fields.Str(dump_only=True)
    created_at = Timestamp(dump_only=True)
    updated_at = Timestamp(dump_only=True)

    class Meta:
        type_ = "resources"
        inflect = dasherize
        ordered = True


def scoped(model: Any) -> Select[Any]:
    """Rows of `model` that belong to the current account."""
    return select(model).where(model.account_id == current_account().id)


def get_owned(model: Any, id_: str, *, for_update: bool = False) -> Any:
    """The current account's row with this id, or 404 (another account's row is not found)."""
    if "\x00" in id_:
        # No id holds a NUL, and Postgres refuses one in a string parameter (a 500).
        raise NotFound(f"no {model.__tablename__.replace('_', '-')} with id {id_!r}")
    statement = scoped(model).where(model.id == id_)
    if for_update:
        # Lock only this table: Postgres refuses FOR UPDATE on the nullable side of the outer
        # joins that eager-loaded relationships (an activity's template and sender) add.
        statement = statement.with_for_update(of=model)
    row = db.session.scalars(statement).first()
    if row is None:
        raise NotFound(f"no {model.__tablename__.replace('_', '-')} with id {id_!r}")
    return row


def resource_url(type_: str, id_: str) -> str:
    return f"{API_PREFIX}/{type_}/{id_}"


def dump(
    schema_class: type[ResourceSchema],
    data: Any,
    *,
    many: bool = False,
    include: Sequence[str] = (),
) -> dict[str, Any]:
    """The JSON:API document for one row or a list, with `included` rows.

    The request's changes are flushed first (defaults and `updated_at` are filled in then):
    the answer is built before the request's commit (`CampaignFlask.dispatch_request`).
    """
    db.session.flush()
    fields_to_include = tuple(path.replace("-", "_") for path in include)
    document = schema_class(many=many, include_data=fields_to_include).dump(data)
    document.setdefault("jsonapi", {"version": "1.0"})
    return document


def _includable(schema_class: type[ResourceSchema]) -> list[str]:
    return [
        dasherize(name)
        for name, field in schema_class._declared_fields.items()
        if isinstance(field, fields.Relationship) and getattr(field, "_Relationship__schema", None)
    ]


def list_response(
    model: Any,
    schema_class: type[ResourceSchema],
    filters: Mapping[str, Any],
    *,
    statement: Select[Any] | None = None,
) -> Response:
    """A page of the current account's rows; `filters` maps filter names to their columns (or to
    a `OneOf` column, whose values are checked, or a `Moment` column, compared)."""
    config = current_app.config
    query = parse_list_query(
        request.args,
        filters=[name for name, target in filters.items() if not isinstance(target, Moment)],
        includes=_includable(schema_class),
        default_size=min(config["PAGE_SIZE"], config["MAX_PAGE_SIZE"]),
        max_size=config["MAX_PAGE_SIZE"],
        comparisons={
            name: target.operators for name, target in filters.items() if isinstance(target, Moment)
        },
    )
    statement = scoped(model) if statement is None else statement
    for name, value in query.filters.items():
        target = filters[name]
        column = target.checked(name, value) if isinstance(target, OneOf) else target
        statement = statement.where(column == value)
    for (name, operation), value in query.comparisons.items():
        statement = statement.where(filters[name].condition(name, operation, value))
    for path in query.include:
        attribute = getattr(model, path.replace("-", "_"))
        if isinstance(attribute, InstrumentedAttribute):
            statement = statement.options(selectinload(attribute))
    # Links are path-absolute references, like every other link and Location: behind a TLS
    # proxy (Heroku's router) the host and scheme the app sees are not the client's.
    page = paginate(statement, model, query, request.path, request.args)
    document = dump(schema_class, page.rows, many=True, include=query.include)
    document["links"] = page.links
    return document_response(document)


def detail_response(
    row: Any,
    schema_class: type[ResourceSchema],
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """One row as a document, honouring `include=` on the query string."""
    include = parse_detail_query(request.args, _includable(schema_class))
    if include:
        row = _with_included(row, include)
    return document_response(dump(schema_class, row, include=include), status, headers=headers)


def _with_included(row: Any, include: Sequence[str]) -> Any:
    """`row` read again with its included relationships loaded.

    Some relationships are `raise_on_sql` so that a list never loads them one row at a time;
    an include names them, so they are loaded here in one extra query each.
    """
    model = type(row)
    options = [
        selectinload(attribute)
        for attribute in (getattr(model, path.replace("-", "_")) for path in include)
        if isinstance(attribute, InstrumentedAttribute)
    ]
    if not options:
        return row
    statement = (
        select(model)
        .where(model.id == row.id)
        .options(*options)
        .execution_options(populate_existing=True)
    )
    return db.session.scalars(statement).one()


def created_response(row: Any, schema_class: type[ResourceSchema]) -> Response:
    """201 with the new row (and what `include=` asks for) and its `Location`."""
    db.session.flush()  # the id and defaults are filled in by the insert
    location = resource_url(schema_class.Meta.type_, row.id)
    return detail_response(row, schema_class, 201, headers={"Location": location})


def write_query_guard(schema_class: type[ResourceSchema]) -> Callable[[], None]:
    """A blueprint hook that checks a write's query string before anything is written: only
    `include` (of this type's relationships) on POST and PATCH, nothing on DELETE."""

    def guard() -> None:
        if request.method in ("POST", "PATCH"):
            parse_detail_query(request.args, _includable(schema_class))
        elif request.method == "DELETE":
            parse_detail_query(request.args, ())

    return guard
