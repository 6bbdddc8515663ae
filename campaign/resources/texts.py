"""`texts` (read-only): the messages of an account, both ways. Outbound: one per envelope's text
step, with its fate as the carrier reported it, and the auto-replies to keywords (no
engagement). Inbound (`direction: inbound`, status `received`): what recipients sent, linked to
the envelope and engagement that last texted them, when one did."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow_jsonapi import fields

from campaign.listing import OneOf
from campaign.models import Text, TextDirection, TextStatus
from campaign.resources.base import (
    API_PREFIX,
    Related,
    ResourceSchema,
    Timestamp,
    detail_response,
    get_owned,
    list_response,
)

blp = Blueprint(
    "texts",
    __name__,
    url_prefix=f"{API_PREFIX}/texts",
    description="Messages sent and received (read-only); filter[engagement]=ID, "
    "filter[direction]=inbound",
)


class TextSchema(ResourceSchema):
    direction = fields.Str(dump_only=True)
    to = fields.Str(dump_only=True)
    from_ = fields.Str(dump_only=True, data_key="from")
    body = fields.Str(dump_only=True, allow_none=True)
    status = fields.Str(dump_only=True)
    segments = fields.Int(dump_only=True, allow_none=True)
    error_code = fields.Str(dump_only=True, allow_none=True)
    error_detail = fields.Str(dump_only=True, allow_none=True)
    provider_message_id = fields.Str(dump_only=True, allow_none=True)
    retry_attempts = fields.Int(dump_only=True)
    sent_at = Timestamp(dump_only=True, allow_none=True)
    delivered_at = Timestamp(dump_only=True, allow_none=True)
    envelope = Related(
        "envelopes", id_attribute="envelope_id", dump_only=True, schema="EnvelopeSchema"
    )
    engagement = Related(
        "engagements", id_attribute="engagement_id", dump_only=True, schema="EngagementSchema"
    )

    class Meta(ResourceSchema.Meta):
        type_ = "texts"
        self_url = f"{API_PREFIX}/texts/{{id}}"
        self_url_kwargs = {"id": "<id>"}


# `filter[...]` of the list view, by name: the column each one matches (OpenAPI reads these).
FILTERS: dict[str, Any] = {
    "engagement": Text.engagement_id,
    "envelope": Text.envelope_id,
    "status": OneOf.of(Text.status, TextStatus),
    "direction": OneOf.of(Text.direction, TextDirection),
}


@blp.route("")
class TextList(MethodView):
    def get(self) -> Response:
        """List texts"""
        return list_response(Text, TextSchema, FILTERS)


@blp.route("/<string:text_id>")
class TextDetail(MethodView):
    def get(self, text_id: str) -> Response:
        """Read a text"""
        return detail_response(get_owned(Text, text_id), TextSchema)
