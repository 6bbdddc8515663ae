"""What the OpenAPI description knows of each JSON:API type beyond its schema, and the shared
pieces: id and string schemas, error documents by status, which statuses each verb may answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from campaign.compliance.keywords import Keyword
from campaign.compliance.quiet_hours import DAY_NAMES, MAX_ZONE_NAME
from campaign.flows import definitions, splits, web_calls
from campaign.flows.extraction import MAX_NAME_LENGTH
from campaign.flows.steps import Event, ExitType
from campaign.models import (
    AccountReply,
    Activity,
    ActivityKind,
    Engagement,
    EngagementStatus,
    Envelope,
    EnvelopeStatus,
    OptOut,
    OptOutSource,
    PhoneNumber,
    Text,
    TextDirection,
    TextStatus,
    TextTemplate,
    Trigger,
    TriggerKind,
)
from campaign.models.account_reply import MAX_REPLY_LENGTH
from campaign.models.base import ID_ALPHABET, ID_LENGTH
from campaign.models.engagement import DEFAULT_FALLBACK_TIMEZONE
from campaign.resources import (
    account_replies,
    activities,
    engagements,
    envelopes,
    opt_outs,
    phone_numbers,
    texts,
    triggers,
)
from campaign.resources.account_replies import AccountReplySchema
from campaign.resources.activities import ActivitySchema
from campaign.resources.base import ResourceSchema
from campaign.resources.engagements import EngagementSchema
from campaign.resources.envelopes import EnvelopeSchema
from campaign.resources.opt_outs import OptOutSchema
from campaign.resources.phone_numbers import PhoneNumberSchema
from campaign.resources.text_templates import TextTemplateSchema
from campaign.resources.texts import TextSchema
from campaign.resources.triggers import TriggerSchema
from campaign.services.engagements import MAX_EXPECTED_INPUTS
from campaign.services.envelope_input import MAX_META_KEY_LENGTH
from campaign.workers.rounds import RECIPIENT_ZONE

ID = {"type": "string", "pattern": f"^[{ID_ALPHABET}]{{{ID_LENGTH}}}$"}
STRING = {"type": "string"}
OBJECT = {"type": "object"}


def enum_schema(values: list[str] | type[StrEnum], **extra: Any) -> dict[str, Any]:
    return {"type": "string", "enum": [str(value) for value in values], **extra}


@dataclass(frozen=True)
class Collection:
    """One JSON:API type as its views serve it, with what its schema alone does not say.

    `filters` is its list view's FILTERS; `fixed` names the relationships a PATCH may not
    change (409) and `updatable` the dump-only ones a PATCH may (a create cannot);
    `create_links` the relationships a create must carry where the schema leaves that to the
    service (None: those the schema requires). `attributes` and `create` replace field schemas
    where the services accept less than the field type allows, and `writes` where clients
    write an attribute otherwise than it is shown (write-only members). `bulk`: POST also
    takes an array with `ext=bulk`; `idempotent_create`: a POST of what exists answers 200.
    """

    schema: type[ResourceSchema]
    model: type  # a to-one linkage may be null when its foreign-key column may
    filters: Mapping[str, Any] = field(default_factory=dict)
    fixed: frozenset[str] = frozenset()
    updatable: frozenset[str] = frozenset()
    create_links: tuple[str, ...] | None = None
    attributes: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    create: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    writes: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    bulk: bool = False
    idempotent_create: bool = False

    @property
    def type_(self) -> str:
        return self.schema.Meta.type_

    @property
    def name(self) -> str:
        return self.schema.__name__.removesuffix("Schema")


def _nullable(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """`schema` or null (an enum lists null too, as OpenAPI 3.0.3 asks)."""
    if "enum" in schema:
        schema = {**schema, "enum": [*schema["enum"], None]}
    return {**schema, "nullable": True, "description": description}


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    return {**schema, "required": list(required)} if required else schema


_MOMENT = {**STRING, "format": "date-time"}
_WEB_CALL = "web-call only (null for other kinds)"
_SPLIT = "split only (null for other kinds)"
_SECRET = {**STRING, "writeOnly": True, "description": "write-only: never returned"}
_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": MAX_NAME_LENGTH}
_BASIC_AUTH = {"username": STRING}
_OAUTH2 = {"token-url": STRING, "client-id": STRING, "scope": {**STRING, "nullable": True}}
# An activity's web-call and split attributes as they are shown: secrets never are.
_FLOW_SHOWN: dict[str, dict[str, Any]] = {
    "method": _nullable(enum_schema(list(web_calls.METHODS)), f"default GET; {_WEB_CALL}"),
    "url": _nullable(STRING, f"http or https, a template of the run's variables; {_WEB_CALL}"),
    "headers": _nullable(
        {"type": "object", "additionalProperties": STRING, "maxProperties": web_calls.MAX_HEADERS},
        f"header names to value templates; {_WEB_CALL}",
    ),
    "basic-auth": _nullable(
        _closed(_BASIC_AUTH, ("username",)), f"the password is write-only; {_WEB_CALL}"
    ),
    "oauth2": _nullable(
        _closed(_OAUTH2, ("token-url", "client-id")),
        f"client credentials; the client-secret is write-only; {_WEB_CALL}",
    ),
    "content-type": _nullable(STRING, f"the body's media type; {_WEB_CALL}"),
    "body": _nullable(STRING, f"a template of the run's variables; {_WEB_CALL}"),
    "timeout": _nullable(
        {
            "type": "integer",
            "minimum": web_calls.MIN_TIMEOUT,
            "maximum": web_calls.MAX_TIMEOUT,
            "default": web_calls.DEFAULT_TIMEOUT,
        },
        f"seconds; {_WEB_CALL}",
    ),
    "response-variables": _nullable(
        {
            "type": "array",
            "maxItems": definitions.MAX_RESPONSE_VARIABLES,
            "items": _closed({"name": _NAME, "query": STRING}, ("name", "query")),
        },
        "a dot path (properties.periods.0.temperature) or a bare label found depth-first; "
        f"none: every top-level scalar of the answer; {_WEB_CALL}",
    ),
    "variable": _nullable(_NAME, f"the run variable the rules test; {_SPLIT}"),
    "rules": _nullable(
        {
            "type": "array",
            "minItems": 1,
            "maxItems": definitions.MAX_RULES,
            "items": _closed(
                {
                    "category": {**STRING, "maxLength": definitions.MAX_CATEGORY_LENGTH},
                    "test": enum_schema(sorted(splits.TESTS)),
                    "arguments": {"type": "array", "items": STRING},
                },
                ("category", "test"),
            ),
        },
        f"the first rule that matches names the category, else Other; {_SPLIT}",
    ),
}
# As clients write them: with the write-only secrets.
_FLOW_WRITTEN = {
    **_FLOW_SHOWN,
    "basic-auth": _nullable(
        _closed({**_BASIC_AUTH, "password": _SECRET}, ("username",)),
        f"the password is required unless one is stored; {_WEB_CALL}",
    ),
    "oauth2": _nullable(
        _closed({**_OAUTH2, "client-secret": _SECRET}, ("token-url", "client-id")),
        f"the client-secret is required unless one is stored for this token-url; {_WEB_CALL}",
    ),
}
_HH_MM = {**STRING, "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_QUEUE_SCHEDULE = _nullable(
    _closed(
        {
            "timezone": {
                **STRING,
                "maxLength": MAX_ZONE_NAME,
                "description": f'an IANA time zone name, or "{RECIPIENT_ZONE}": each number\'s '
                "own zones (open in all of them), fallback-timezone when it names none",
            },
            "start": {**_HH_MM, "description": "local time the window opens"},
            "end": {**_HH_MM, "description": "local time it closes; after start, same day"},
            "days": {
                "type": "array",
                "items": enum_schema(list(DAY_NAMES)),
                "minItems": 1,
                "maxItems": len(DAY_NAMES),
                "uniqueItems": True,
                "description": "the days it opens (all when absent); shown in week order",
            },
        },
        ("timezone", "start", "end"),
    ),
    "quiet hours: a text outside the window waits queued until it opens; changes while "
    "pending or paused",
)
_META = {
    "type": "object",
    "additionalProperties": {"anyOf": [STRING, {"type": "number"}, {"type": "boolean"}]},
    "description": "flat object for the template's variables; keys of 1 to "
    f"{MAX_META_KEY_LENGTH} characters, at most CAMPAIGN_MAX_META_BYTES",
}
COLLECTIONS = (
    Collection(PhoneNumberSchema, PhoneNumber, filters=phone_numbers.FILTERS),
    Collection(TextTemplateSchema, TextTemplate),
    Collection(
        EngagementSchema,
        Engagement,
        filters=engagements.FILTERS,
        updatable=frozenset({"activity"}),
        attributes={
            "expected-inputs": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": MAX_META_KEY_LENGTH},
                "maxItems": MAX_EXPECTED_INPUTS,
                "uniqueItems": True,
                "default": [],
                "description": "meta names (exact case) every envelope POSTed to a triggered "
                "engagement must carry",
            },
            "queue-schedule": _QUEUE_SCHEDULE,
            "fallback-timezone": {
                **STRING,
                "maxLength": MAX_ZONE_NAME,
                "default": DEFAULT_FALLBACK_TIMEZONE,
                "description": "an IANA time zone name: the zone of numbers that name none, "
                "with timezone recipient",
            },
        },
        create={"status": enum_schema([EngagementStatus.PENDING], description="always pending")},
    ),
    Collection(
        ActivitySchema,
        Activity,
        filters=activities.FILTERS,
        fixed=frozenset({"engagement"}),
        create_links=("engagement",),
        attributes={
            "kind": enum_schema(
                ActivityKind,
                description="a text needs text-template and phone-number; other Omnigage "
                "kinds are a 400",
            ),
            "status": enum_schema(
                EngagementStatus, readOnly=True, description="the status of its engagement"
            ),
            **_FLOW_SHOWN,
        },
        writes=_FLOW_WRITTEN,
    ),
    Collection(
        TriggerSchema,
        Trigger,
        filters=triggers.FILTERS,
        attributes={
            "kind": enum_schema(TriggerKind, default=TriggerKind.ACTIVITY.value),
            "on-event": enum_schema(
                Event, description="text-* for a text, web-call-* for a web call, split for a split"
            ),
            "category": {
                **STRING,
                "nullable": True,
                "maxLength": definitions.MAX_CATEGORY_LENGTH,
                "description": "with on-event split: one of the split's categories, or Other",
            },
            "delay-in-seconds": {
                "type": "integer",
                "minimum": 0,
                "maximum": definitions.MAX_DELAY_IN_SECONDS,
                "default": 0,
            },
        },
    ),
    Collection(
        EnvelopeSchema,
        Envelope,
        filters=envelopes.FILTERS,
        fixed=frozenset({"engagement"}),
        bulk=True,
        attributes={
            "meta": _META,
            "status": enum_schema(EnvelopeStatus, readOnly=True),
            "exit-type": {
                **_nullable(enum_schema(ExitType), "null while the run goes on"),
                "readOnly": True,
            },
            "values": {
                "type": "object",
                "readOnly": True,
                "additionalProperties": {
                    "type": "object",
                    "properties": {"value": {}, "activity": ID, "at": _MOMENT},
                },
                "description": "what the run collected: web calls' variables, split categories",
            },
            "path": {
                "type": "array",
                "readOnly": True,
                "items": {
                    "type": "object",
                    "properties": {
                        "activity": ID,
                        "event": STRING,
                        "at": _MOMENT,
                        "step": {"type": "integer"},
                        "reason": {**STRING, "nullable": True},
                    },
                },
                "description": "each step the run took, with a failure's reason",
            },
        },
    ),
    Collection(
        TextSchema,
        Text,
        filters=texts.FILTERS,
        attributes={
            "status": enum_schema(TextStatus, readOnly=True),
            "direction": enum_schema(TextDirection, readOnly=True),
        },
    ),
    Collection(
        AccountReplySchema,
        AccountReply,
        filters=account_replies.FILTERS,
        attributes={
            "keyword": enum_schema(Keyword, readOnly=True),
            "body": {**STRING, "maxLength": MAX_REPLY_LENGTH},
        },
    ),
    Collection(
        OptOutSchema,
        OptOut,
        filters=opt_outs.FILTERS,
        bulk=True,
        idempotent_create=True,
        attributes={"source": enum_schema(OptOutSource, readOnly=True)},
    ),
)
ERRORS = {
    "400": ("BadRequest", "Malformed document, invalid attribute or unsupported query parameter"),
    "401": ("Unauthorized", "Missing or wrong X-Account-Key or token"),
    "403": ("Forbidden", "The token belongs to another account, or a client-generated id"),
    "404": ("NotFound", "No such resource in this account"),
    "406": ("NotAcceptable", "The Accept header allows no application/vnd.api+json response"),
    "409": ("Conflict", "Wrong type, an id that differs from the URL, or a refused transition"),
    "413": ("PayloadTooLarge", "More resources than CAMPAIGN_MAX_BULK, or too large a body"),
    "415": ("UnsupportedMediaType", "A Content-Type other than JSON:API (ext/profile allowed)"),
    "422": ("UnprocessableContent", "The Idempotency-Key was used for another request"),
    "429": ("TooManyRequests", "Over the account's rate limit; Retry-After says when to retry"),
}
READ_ONE = ("400", "401", "403", "404", "406", "429")
READ_MANY = ("400", "401", "403", "406", "429")
WRITE = ("400", "401", "403", "404", "406", "409", "413", "415", "422", "429")
DELETE = ("401", "403", "404", "406", "409", "429")
