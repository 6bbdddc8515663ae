"""Validating envelope resource objects in one pass, for single and bulk creation alike.

This is the hot path of ingest (tens of thousands of envelopes a second), so each entry is
checked with plain dict and type tests instead of a marshmallow load per row; every problem is
still reported with its own pointer, e.g. `/data/7/attributes/phone-number`.
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
    """One valid entry: where it was in the document and what to store."""

    index: int | None
    engagement_id: str
    phone_number: str
    meta: dict[str, Any]

    @property
    def pointer(self) -> str:
        return "/data" if self.index is None else f"/data/{self.index}"


class EnvelopeParser:
    """Checks envelope resource objects against the account's limits and number region."""

    def __init__(self, *, region: str, max_meta_bytes: int) -> None:
        self.region = region
        self.max_meta_bytes = max_meta_bytes

    def parse(
        self, item: Any, index: int | None, errors: list[ApiError], *, partial: bool = False
    ) -> EnvelopeInput | None:
        """The entry's values, or None after appending its errors to `errors`."""
        at = "/data" if index is None else f"/data/{index}"
        if not isinstance(item, dict):
            errors.append(InvalidDocument("a resource object must be a JSON object", pointer=at))
            return None
        found = len(errors)
        self._check_members(item, at, errors, partial)
        attributes = item.get("attributes", {})
        if not isinstance(attributes, dict):
            errors.append(
                InvalidDocument("'attributes' must be a JSON object", pointer=f"{at}/attributes")
            )
            attributes = {}
        for name in attributes:
            if name not in WRITABLE_ATTRIBUTES:
                detail = (
                    f"{name!r} is read-only"
                    if name in READ_ONLY_ATTRIBUTES
                    else f"unknown attribute {name!r}"
                )
                errors.append(
                    InvalidAttribute(detail, pointer=pointer_to(f"{at}/attributes", name))
                )
        number = self._number(attributes, at, errors, partial)
        meta = self._meta(attributes.get("meta", {}), at, errors)
        engagement_id = self._engagement(item.get("relationships"), at, errors, partial)
        if len(errors) > found:
            return None
        return EnvelopeInput(index, engagement_id or "", number or "", meta)

    def _check_members(
        self, item: dict[str, Any], at: str, errors: list[ApiError], partial: bool
    ) -> None:
        for member in item:
            if member not in _RESOURCE_MEMBERS:
                errors.append(
                    InvalidDocument(
                        f"{member!r} is not a member of a resource object",
                        pointer=pointer_to(at, member),
                    )
                )
        kind = item.get("type")
        if not isinstance(kind, str):
            errors.append(InvalidDocument("'type' must be a string", pointer=f"{at}/type"))
        elif kind != TYPE:
            errors.append(
                Conflict(
                    f"'type' must be {TYPE!r} at this endpoint, not {kind!r}", pointer=f"{at}/type"
                )
            )
        if "id" in item and not partial:
            errors.append(
                Forbidden("client-generated ids are not supported; omit 'id'", pointer=f"{at}/id")
            )

    def _number(
        self, attributes: dict[str, Any], at: str, errors: list[ApiError], partial: bool
    ) -> str | None:
        pointer = f"{at}/attributes/phone-number"
        if "phone-number" not in attributes:
            if not partial:
                errors.append(InvalidAttribute("phone-number is required", pointer=pointer))
            return None
        try:
            return to_e164(attributes["phone-number"], self.region)
        except InvalidNumber as exc:
            errors.append(InvalidAttribute(str(exc), pointer=pointer))
            return None

    def _meta(self, meta: Any, at: str, errors: list[ApiError]) -> dict[str, Any]:
        pointer = f"{at}/attributes/meta"
        if not isinstance(meta, dict):
            errors.append(InvalidAttribute("meta must be a JSON object", pointer=pointer))
            return {}
        found = len(errors)
        for key, value in meta.items():
            if not key or len(key) > MAX_META_KEY_LENGTH:
                errors.append(
                    InvalidAttribute(
                        f"meta keys must be 1 to {MAX_META_KEY_LENGTH} characters", pointer=pointer
                    )
                )
            elif not isinstance(value, _META_VALUE_TYPES):
                errors.append(
                    InvalidAttribute(
                        f"meta[{key!r}] must be a string, number or boolean (meta is flat)",
                        pointer=pointer_to(pointer, key),
                    )
                )
            elif type(value) in (int, float) and not -MAX_META_NUMBER < value < MAX_META_NUMBER:
                errors.append(
                    InvalidAttribute(
                        f"meta[{key!r}] must be a number between -(2**53) and 2**53 exclusive "
                        "(send larger numbers, such as account numbers, as strings)",
                        pointer=pointer_to(pointer, key),
                    )
                )
        # Only a flat object of valid values is measured: encoding a deeply nested one would
        # hit orjson's recursion limit.
        if len(errors) == found and len(orjson.dumps(meta)) > self.max_meta_bytes:
            errors.append(
                InvalidAttribute(
                    f"meta is larger than {self.max_meta_bytes} bytes", pointer=pointer
                )
            )
        return meta

    def _engagement(
        self, relationships: Any, at: str, errors: list[ApiError], partial: bool
    ) -> str | None:
        pointer = f"{at}/relationships"
        if relationships is None:
            relationships = {}
        if not isinstance(relationships, dict):
            errors.append(InvalidDocument("'relationships' must be a JSON object", pointer=pointer))
            return None
        for name in relationships:
            if name == "activity":
                errors.append(
                    InvalidAttribute(
                        "'activity' is read-only: the server fills it in from the engagement",
                        pointer=f"{pointer}/activity",
                    )
                )
            elif name != "engagement":
                errors.append(
                    InvalidAttribute(
                        f"unknown relationship {name!r}", pointer=pointer_to(pointer, name)
                    )
                )
        if "engagement" not in relationships:
            if not partial:
                errors.append(
                    InvalidAttribute(
                        "the engagement relationship is required", pointer=f"{pointer}/engagement"
                    )
                )
            return None
        if partial:
            errors.append(
                Conflict(
                    "an envelope cannot move to another engagement", pointer=f"{pointer}/engagement"
                )
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
                    pointer=f"{pointer}/engagement/data",
                )
            )
            return None
        return linkage["id"]
