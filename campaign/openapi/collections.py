"""What the OpenAPI description knows of each JSON:API type beyond its schema, and the shared
pieces: id and string schemas, error documents by status, which statuses each verb may answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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
from campaign.resources import activities, engagements, envelopes, phone_numbers, texts
from campaign.resources.activities import ActivitySchema
from campaign.resources.base import ResourceSchema
from campaign.resources.engagements import EngagementSchema
from campaign.resources.envelopes import EnvelopeSchema
from campaign.resources.phone_numbers import PhoneNumberSchema
from campaign.resources.text_templates import TextTemplateSchema
from campaign.resources.texts import TextSchema
from campaign.services.envelope_input import MAX_META_KEY_LENGTH

ID = {"type": "string", "pattern": f"^[{ID_ALPHABET}]{{{ID_LENGTH}}}$"}
STRING = {"type": "string"}
OBJECT = {"type": "object"}


def enum_schema(values: list[str] | type[StrEnum], **extra: Any) -> dict[str, Any]:
    return {"type": "string", "enum": [str(value) for value in values], **extra}


@dataclass(frozen=True)
class Collection:
    """One JSON:API type as its views serve it, with what its schema alone does not say.

    `filters` are the names of its list view's FILTERS; `fixed` names the
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
    Collection(PhoneNumberSchema, PhoneNumber, filters=tuple(phone_numbers.FILTERS)),
    Collection(TextTemplateSchema, TextTemplate),
    Collection(
        EngagementSchema,
        Engagement,
        filters=tuple(engagements.FILTERS),
        create={"status": enum_schema([EngagementStatus.PENDING], description="always pending")},
    ),
    Collection(
        ActivitySchema,
        Activity,
        filters=tuple(activities.FILTERS),
        fixed=frozenset({"engagement"}),
        attributes={
            "kind": enum_schema([ActivityKind.TEXT], description="other Omnigage kinds are a 400"),
            "status": enum_schema(
                EngagementStatus, readOnly=True, description="the status of its engagement"
            ),
        },
    ),
    Collection(
        EnvelopeSchema,
        Envelope,
        filters=tuple(envelopes.FILTERS),
        fixed=frozenset({"engagement"}),
        attributes={"meta": _META, "status": enum_schema(EnvelopeStatus, readOnly=True)},
    ),
    Collection(
        TextSchema,
        Text,
        filters=tuple(texts.FILTERS),
        attributes={"status": enum_schema(TextStatus, readOnly=True)},
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
