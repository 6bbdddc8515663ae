"""Validating envelope resource objects in one pass, for single and bulk creation alike.

This is the hot path of ingest (tens of thousands of envelopes a second), so each entry is
checked with plain dict and type tests instead of a marshmallow load per row; every problem is
still reported where it is: its entry's index (`item`) and its place in the entry
(`at="attributes/phone-number"`), which the request's document makes `/data/7/attributes/...`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from campaign.e164 import InvalidNumber, to_e164
from campaign.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidAttribute,
    InvalidDocument,
    escape,
    pointer_to,
)

TYPE = "envelopes"
WRITABLE_ATTRIBUTES = frozenset({"phone-number", "meta"})
READ_ONLY_ATTRIBUTES = frozenset(
    {
        "status",
        "retry-attempts",
        "scheduled-at",
        "processed-at",
        "completed-at",
        "created-at",
        "updated-at",
    }
)
_RESOURCE_MEMBERS = frozenset({"type", "id", "lid", "attributes", "relationships", "links", "meta"})
_META_VALUE_TYPES = (str, int, float, bool)
MAX_META_KEY_LENGTH = 64
# JSON's safe-integer range: a number inside it survives every JSON store and client exactly
# (orjson reads larger integers as floats, and Postgres jsonb gives `1e308` back as a 309-digit
# integer that no 64-bit encoder can write).
MAX_META_NUMBER = 2**53


@dataclass(frozen=True)
class EnvelopeInput:
    """One valid entry: its index among the request's entries and what to store."""

    index: int
    engagement_id: str
    phone_number: str
    meta: dict[str, Any]


class EnvelopeParser:
    """Checks envelope resource objects against the account's limits and number region."""

    def __init__(self, *, region: str, max_meta_bytes: int) -> None:
        self.region = region
        self.max_meta_bytes = max_meta_bytes

    def parse(
        self, item: Any, index: int, errors: list[ApiError], *, partial: bool = False
    ) -> EnvelopeInput | None:
        """The entry's values, or None after appending its errors to `errors`."""
        found = len(errors)
        entry = self._entry(item, index, errors, partial)
        if len(errors) > found:
            for error in errors[found:]:
                error.item = index
        return entry

    def _entry(
        self, item: Any, index: int, errors: list[ApiError], partial: bool
    ) -> EnvelopeInput | None:
        if not isinstance(item, dict):
            errors.append(InvalidDocument("a resource object must be a JSON object", at=""))
            return None
        found = len(errors)
        self._check_members(item, errors, partial)
        attributes = item.get("attributes", {})
        if not isinstance(attributes, dict):
            errors.append(InvalidDocument("'attributes' must be a JSON object", at="attributes"))
            attributes = {}
        for name in attributes:
            if name not in WRITABLE_ATTRIBUTES:
                detail = (
                    f"{name!r} is read-only"
                    if name in READ_ONLY_ATTRIBUTES
                    else f"unknown attribute {name!r}"
                )
                errors.append(InvalidAttribute(detail, at=pointer_to("attributes", name)))
        number = self._number(attributes, errors, partial)
        meta = self._meta(attributes.get("meta", {}), errors)
        engagement_id = self._engagement(item.get("relationships"), errors, partial)
        if len(errors) > found:
            return None
        return EnvelopeInput(index, engagement_id or "", number or "", meta)

    def _check_members(self, item: dict[str, Any], errors: list[ApiError], partial: bool) -> None:
        for member in item:
            if member not in _RESOURCE_MEMBERS:
                errors.append(
                    InvalidDocument(
                        f"{member!r} is not a member of a resource object", at=escape(member)
                    )
                )
        kind = item.get("type")
        if not isinstance(kind, str):
            errors.append(InvalidDocument("'type' must be a string", at="type"))
        elif kind != TYPE:
            errors.append(
                Conflict(f"'type' must be {TYPE!r} at this endpoint, not {kind!r}", at="type")
            )
        if "id" in item and not partial:
            errors.append(Forbidden("client-generated ids are not supported; omit 'id'", at="id"))

    def _number(
        self, attributes: dict[str, Any], errors: list[ApiError], partial: bool
    ) -> str | None:
        at = "attributes/phone-number"
        if "phone-number" not in attributes:
            if not partial:
                errors.append(InvalidAttribute("phone-number is required", at=at))
            return None
        try:
            return to_e164(attributes["phone-number"], self.region)
        except InvalidNumber as exc:
            errors.append(InvalidAttribute(str(exc), at=at))
            return None

    def _meta(self, meta: Any, errors: list[ApiError]) -> dict[str, Any]:
        at = "attributes/meta"
        if not isinstance(meta, dict):
            errors.append(InvalidAttribute("meta must be a JSON object", at=at))
            return {}
        found = len(errors)
        for key, value in meta.items():
            if not key or len(key) > MAX_META_KEY_LENGTH:
                errors.append(
                    InvalidAttribute(
                        f"meta keys must be 1 to {MAX_META_KEY_LENGTH} characters", at=at
                    )
                )
            elif not isinstance(value, _META_VALUE_TYPES):
                errors.append(
                    InvalidAttribute(
                        f"meta[{key!r}] must be a string, number or boolean (meta is flat)",
                        at=pointer_to(at, key),
                    )
                )
            elif type(value) in (int, float) and not -MAX_META_NUMBER < value < MAX_META_NUMBER:
                errors.append(
                    InvalidAttribute(
                        f"meta[{key!r}] must be a number between -(2**53) and 2**53 exclusive "
                        "(send larger numbers, such as account numbers, as strings)",
                        at=pointer_to(at, key),
                    )
                )
        # Only a flat object of valid values is measured: encoding a deeply nested one would
        # hit orjson's recursion limit.
        if len(errors) == found and len(orjson.dumps(meta)) > self.max_meta_bytes:
            errors.append(
                InvalidAttribute(f"meta is larger than {self.max_meta_bytes} bytes", at=at)
            )
        return meta

    def _engagement(self, relationships: Any, errors: list[ApiError], partial: bool) -> str | None:
        at = "relationships"
        if relationships is None:
            relationships = {}
        if not isinstance(relationships, dict):
            errors.append(InvalidDocument("'relationships' must be a JSON object", at=at))
            return None
        for name in relationships:
            if name == "activity":
                errors.append(
                    InvalidAttribute(
                        "'activity' is read-only: the server fills it in from the engagement",
                        at=f"{at}/activity",
                    )
                )
            elif name != "engagement":
                errors.append(
                    InvalidAttribute(f"unknown relationship {name!r}", at=pointer_to(at, name))
                )
        if "engagement" not in relationships:
            if not partial:
                errors.append(
                    InvalidAttribute(
                        "the engagement relationship is required", at=f"{at}/engagement"
                    )
                )
            return None
        if partial:
            errors.append(
                Conflict("an envelope cannot move to another engagement", at=f"{at}/engagement")
            )
            return None
        relationship = relationships["engagement"]
        linkage = relationship.get("data") if isinstance(relationship, dict) else None
        if (
            not isinstance(linkage, dict)
            or linkage.get("type") != "engagements"
            or not isinstance(linkage.get("id"), str)
        ):
            errors.append(
                InvalidAttribute(
                    'engagement must be {"data": {"type": "engagements", "id": "..."}}',
                    at=f"{at}/engagement/data",
                )
            )
            return None
        return linkage["id"]
