"""Query parameters of the API (`filter[...]`, `sort`, `include`, `page[...]`) and cursor pages.

Lists use keyset pagination on (sort timestamp, id): no offsets, no total counts, and a page is
as cheap at row ten million as at row one. Cursors are opaque to clients.
"""

from __future__ import annotations

import base64
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from campaign.errors import InvalidParameter
from campaign.extensions import db
from campaign.moments import to_utc

_BRACKETED = re.compile(r"^(filter|page|fields)\[([A-Za-z0-9_.-]+)\]$")
_COMPARED = re.compile(r"^filter\[([A-Za-z0-9_.-]+)\]\[([A-Za-z0-9_-]+)\]$")
# RFC 3339 date-times; fromisoformat alone also takes other ISO 8601 forms (weeks, no dashes).
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
SORTABLE = {"created-at": "created_at", "updated-at": "updated_at"}


@dataclass(frozen=True)
class Cursor:
    """A position in a sorted list: the sort key and id of one row."""

    key: datetime
    id: str

    def encode(self) -> str:
        raw = orjson.dumps([self.key.isoformat(), self.id])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, parameter: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            key, id_ = orjson.loads(raw)
            moment = datetime.fromisoformat(key)
            if moment.tzinfo is None or not isinstance(id_, str) or "\x00" in id_:
                raise ValueError("cursor without a time zone or id")
            # Comparing with the stored column converts the key to UTC, which overflows at
            # the ends of the calendar; MomentOutOfRange is a ValueError.
            return cls(to_utc(moment), id_)
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise InvalidParameter(
                "not a cursor this server issued; use the links of a previous page",
                parameter=parameter,
            ) from None


@dataclass(frozen=True)
class OneOf:
    """A filter whose column holds one of a fixed set of values (a status): any other value is a
    400 naming the allowed ones, not an empty list that looks like "nothing matches"."""

    column: Any
    values: tuple[str, ...]

    @classmethod
    def of(cls, column: Any, choices: type[Enum]) -> OneOf:
        return cls(column, tuple(choice.value for choice in choices))

    def checked(self, name: str, value: str) -> Any:
        """The column to compare `value` with, once `value` is known to be one of the values."""
        if value not in self.values:
            raise InvalidParameter(
                f"filter[{name}] must be one of: {', '.join(self.values)}",
                parameter=f"filter[{name}]",
            )
        return self.column


@dataclass(frozen=True)
class Moment:
    """A filter on a timestamp column by comparison, `filter[updated-at][gt]=<moment>` (RFC
    3339 with a time zone): the way to poll for what changed since a moment."""

    column: Any
    operators: tuple[str, ...] = ("gt",)

    def condition(self, name: str, operation: str, value: str) -> Any:
        """SQL: the column compared with the moment `value` (already a checked operator)."""
        parameter = f"filter[{name}][{operation}]"
        return COMPARISONS[operation](self.column, parse_moment(value, parameter))


def parse_moment(value: str, parameter: str) -> datetime:
    """An RFC 3339 moment given in the query string, in UTC; a 400 at `parameter` if it is not
    one or lies outside the moments the API stores."""
    if not _RFC3339.match(value):
        raise InvalidParameter(
            f"{parameter} must be an RFC 3339 moment with a time zone, such as "
            "2025-01-31T09:30:00Z",
            parameter=parameter,
        )
    try:
        return to_utc(datetime.fromisoformat(value.upper()))
    except ValueError as exc:  # MomentOutOfRange too
        raise InvalidParameter(
            f"{parameter} is not a valid moment: {exc}", parameter=parameter
        ) from None


@dataclass(frozen=True)
class ListQuery:
    """The parsed query string of a list request."""

    size: int
    after: Cursor | None = None
    before: Cursor | None = None
    sort: str = "created_at"
    descending: bool = False
    filters: dict[str, str] = field(default_factory=dict)
    include: tuple[str, ...] = ()
    # (filter name, operator) -> value, for the filters that compare (`Moment`).
    comparisons: dict[tuple[str, str], str] = field(default_factory=dict)


def parse_include(value: str | None, allowed: Sequence[str]) -> tuple[str, ...]:
    """The relationship paths of `include=`, each checked against `allowed`."""
    if value is None:
        return ()
    paths = tuple(path.strip() for path in value.split(",") if path.strip())
    for path in paths:
        if path not in allowed:
            raise InvalidParameter(
                f"cannot include {path!r}; includable: {', '.join(allowed) or 'nothing'}",
                parameter="include",
            )
    return paths


def parse_detail_query(args: Mapping[str, str], includes: Sequence[str]) -> tuple[str, ...]:
    """The query string of a single-resource request: only `include` is understood."""
    for name in args:
        if name != "include":
            raise InvalidParameter(f"unsupported query parameter {name!r}", parameter=name)
    return parse_include(args.get("include"), includes)


def parse_list_query(
    args: Mapping[str, str],
    *,
    filters: Sequence[str],
    includes: Sequence[str],
    default_size: int,
    max_size: int,
    comparisons: Mapping[str, Sequence[str]] | None = None,
) -> ListQuery:
    """Parse and check every parameter of a list request; unknown ones are a 400.

    `comparisons` names the filters that take an operator (`filter[updated-at][gt]`), each
    with the operators it takes; they are not in `filters`.
    """
    size, after, before = default_size, None, None
    compared = comparisons or {}
    chosen_filters: dict[str, str] = {}
    chosen_comparisons: dict[tuple[str, str], str] = {}
    filterable = [*filters, *compared]
    for name, value in args.items():
        match = _BRACKETED.match(name)
        comparison = _COMPARED.match(name)
        if name in ("sort", "include"):
            continue
        if comparison:
            key = _comparison(comparison.group(1), comparison.group(2), compared)
            chosen_comparisons[key] = _filter_value(name, value)
        elif match and match.group(1) == "filter" and match.group(2) in compared:
            uses = ", ".join(f"filter[{match.group(2)}][{op}]" for op in compared[match.group(2)])
            raise InvalidParameter(f"filter[{match.group(2)}] compares: use {uses}", parameter=name)
        elif match and match.group(1) == "filter" and match.group(2) in filters:
            chosen_filters[match.group(2)] = _filter_value(name, value)
        elif match and match.group(1) == "page" and match.group(2) == "size":
            size = _page_size(value, name, max_size)
        elif match and match.group(1) == "page" and match.group(2) == "after":
            after = Cursor.decode(value, name)
        elif match and match.group(1) == "page" and match.group(2) == "before":
            before = Cursor.decode(value, name)
        elif match and match.group(1) == "filter":
            raise InvalidParameter(
                f"cannot filter on {match.group(2)!r}; filterable: {', '.join(filterable)}",
                parameter=name,
            )
        else:
            raise InvalidParameter(f"unsupported query parameter {name!r}", parameter=name)
    if after and before:
        raise InvalidParameter(
            "give page[after] or page[before], not both", parameter="page[before]"
        )
    sort, descending = _sort(args.get("sort"))
    return ListQuery(
        size=size,
        after=after,
        before=before,
        sort=sort,
        descending=descending,
        filters=chosen_filters,
        include=parse_include(args.get("include"), includes),
        comparisons=chosen_comparisons,
    )


def _filter_value(name: str, value: str) -> str:
    if not value:
        raise InvalidParameter("a filter needs a value", parameter=name)
    if "\x00" in value:
        # Postgres refuses a NUL in a string parameter; no stored value holds one.
        raise InvalidParameter("a filter value cannot contain a NUL", parameter=name)
    return value


def _comparison(
    name: str, operation: str, compared: Mapping[str, Sequence[str]]
) -> tuple[str, str]:
    parameter = f"filter[{name}][{operation}]"
    if name not in compared:
        detail = f"filter[{name}] takes no operator" if compared else "no filter takes an operator"
        raise InvalidParameter(detail, parameter=parameter)
    if operation not in compared[name]:
        raise InvalidParameter(
            f"filter[{name}] compares with {', '.join(compared[name])}, not {operation!r}",
            parameter=parameter,
        )
    return name, operation


def _page_size(value: str, name: str, max_size: int) -> int:
    try:
        size = int(value)
    except ValueError:
        raise InvalidParameter("page[size] must be a whole number", parameter=name) from None
    if not 1 <= size <= max_size:
        raise InvalidParameter(f"page[size] must be between 1 and {max_size}", parameter=name)
    return size


def _sort(value: str | None) -> tuple[str, bool]:
    if value is None or value == "":
        return "created_at", False
    descending = value.startswith("-")
    key = value[1:] if descending else value
    if key not in SORTABLE or "," in value:
        raise InvalidParameter(
            f"cannot sort on {value!r}; sortable: created-at, updated-at (prefix - for descending)",
            parameter="sort",
        )
    return SORTABLE[key], descending


@dataclass(frozen=True)
class Page:
    """One page of rows and the links to its neighbours."""

    rows: list[Any]
    links: dict[str, str | None]


def paginate(
    statement: Select[Any], model: Any, query: ListQuery, path: str, args: Mapping[str, str]
) -> Page:
    """Run `statement` one page at a time, ordered by the query's sort key and then id."""
    key: InstrumentedAttribute[Any] = getattr(model, query.sort)
    ident: InstrumentedAttribute[Any] = model.id
    backwards = query.before is not None
    # Walking backwards reverses the order, then the page is flipped back.
    descending = query.descending != backwards
    cursor = query.before or query.after
    if cursor is not None:
        beyond = (key < cursor.key) if descending else (key > cursor.key)
        tie = ident < cursor.id if descending else ident > cursor.id
        statement = statement.where(or_(beyond, and_(key == cursor.key, tie)))
    order = (key.desc(), ident.desc()) if descending else (key.asc(), ident.asc())
    rows = list(db.session.scalars(statement.order_by(*order).limit(query.size + 1)))
    more = len(rows) > query.size
    rows = rows[: query.size]
    if backwards:
        rows.reverse()
    has_next = (more and not backwards) or backwards
    has_prev = (more and backwards) or (query.after is not None)
    # `self` names this very page, so it keeps the cursor the client sent.
    links: dict[str, str | None] = {"self": _url(path, args, {}, keep_cursor=True)}
    links["next"] = (
        _url(path, args, {"page[after]": _cursor(rows[-1], query.sort)})
        if has_next and rows
        else None
    )
    links["prev"] = (
        _url(path, args, {"page[before]": _cursor(rows[0], query.sort)})
        if has_prev and rows
        else None
    )
    return Page(rows, links)


def _cursor(row: Any, sort: str) -> str:
    return Cursor(getattr(row, sort), row.id).encode()


def _url(
    path: str, args: Mapping[str, str], changes: Mapping[str, str], *, keep_cursor: bool = False
) -> str:
    cursors = () if keep_cursor else ("page[after]", "page[before]")
    params = {k: v for k, v in args.items() if k not in cursors}
    params.update(changes)
    return f"{path}?{urlencode(params)}" if params else path
