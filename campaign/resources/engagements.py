"""`engagements`: campaigns; PATCH `status: scheduled` hands one to the dispatcher (202). A
`triggered` one starts a run for each envelope POSTed to it while it sends."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import validate
from marshmallow_jsonapi import fields

from campaign.auth import current_account
from campaign.documents import load_resource, read_document
from campaign.listing import OneOf
from campaign.models import DeliveryType, Direction, Engagement, EngagementStatus
from campaign.models.engagement import (
    DEFAULT_FALLBACK_TIMEZONE,
    MAX_VALIDITY_PERIOD,
    MIN_VALIDITY_PERIOD,
)
from campaign.resources.base import (
    API_PREFIX,
    Related,
    ResourceSchema,
    Timestamp,
    created_response,
    detail_response,
    get_owned,
    list_response,
    write_query_guard,
)
from campaign.services.engagements import create_engagement, update_engagement

blp = Blueprint(
    "engagements",
    __name__,
    url_prefix=f"{API_PREFIX}/engagements",
    description="Campaigns: PATCH status to scheduled to send",
)


def _words(enum: type) -> list[str]:
    return [member.value for member in enum]


class StrictBool(fields.Bool):
    """true or false only: not 1, "yes" or "true"."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class EngagementSchema(ResourceSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=255))
    direction = fields.Str(
        load_default=Direction.OUTBOUND.value, validate=validate.OneOf(_words(Direction))
    )
    status = fields.Str(validate=validate.OneOf(_words(EngagementStatus)))
    delivery_type = fields.Str(
        load_default=DeliveryType.IMMEDIATELY.value, validate=validate.OneOf(_words(DeliveryType))
    )
    delivery_time = Timestamp(allow_none=True)
    count_total = fields.Int(dump_only=True, allow_none=True)
    count_complete = fields.Int(dump_only=True, allow_none=True)
    count_incomplete = fields.Int(dump_only=True, allow_none=True)
    count_hold = fields.Int(dump_only=True, allow_none=True)
    expected_inputs = fields.List(
        fields.Str(),
        load_default=list,
        metadata={"description": "meta names every envelope of a triggered engagement carries"},
    )
    validity_period = fields.Int(
        strict=True,
        allow_none=True,
        validate=validate.Range(MIN_VALIDITY_PERIOD, MAX_VALIDITY_PERIOD),
        metadata={
            "description": "seconds from a text's queueing within which it must reach the "
            "carrier, else it fails `expired`; null: no limit"
        },
    )
    # Quiet hours: loaded as the client wrote them; the service checks them together.
    queue_schedule_is_enabled = StrictBool(
        load_default=False,
        metadata={"description": "texts go only while queue-schedule's window is open"},
    )
    queue_schedule = fields.Raw(allow_none=True)
    fallback_timezone = fields.Str(
        load_default=DEFAULT_FALLBACK_TIMEZONE,
        metadata={"description": "the zone of numbers that name none, with timezone recipient"},
    )
    # The entry activity: the first created unless PATCHed to another of its activities.
    activity = Related(
        "activities", id_attribute="activity_id", schema="ActivitySchema", dump_only=True
    )
    activities = Related("activities", schema="ActivitySchema", many=True, dump_only=True)
    phone_numbers = Related("phone-numbers", schema="PhoneNumberSchema", many=True, dump_only=True)

    class Meta(ResourceSchema.Meta):
        type_ = "engagements"
        self_url = f"{API_PREFIX}/engagements/{{id}}"
        self_url_kwargs = {"id": "<id>"}


class EngagementPatchSchema(EngagementSchema):
    """On update nothing defaults: an absent attribute stays as it is."""

    direction = fields.Str(validate=validate.OneOf(_words(Direction)))
    delivery_type = fields.Str(validate=validate.OneOf(_words(DeliveryType)))
    expected_inputs = fields.List(fields.Str())
    queue_schedule_is_enabled = StrictBool()
    fallback_timezone = fields.Str()
    # Writable on update only: a new engagement has no activities to choose from.
    activity = Related("activities", id_attribute="activity_id", schema="ActivitySchema")

    class Meta(EngagementSchema.Meta):
        pass


blp.before_request(write_query_guard(EngagementSchema))


# `filter[...]` of the list view, by name: the column each one matches (OpenAPI reads these).
FILTERS: dict[str, Any] = {"status": OneOf.of(Engagement.status, EngagementStatus)}


@blp.route("")
class EngagementList(MethodView):
    def get(self) -> Response:
        """List engagements"""
        return list_response(Engagement, EngagementSchema, FILTERS)

    def post(self) -> Response:
        """Create an engagement (pending)"""
        attributes = load_resource(EngagementSchema(), read_document(request).data)
        engagement = create_engagement(current_account(), **attributes)
        return created_response(engagement, EngagementSchema)


@blp.route("/<string:engagement_id>")
class EngagementDetail(MethodView):
    def get(self, engagement_id: str) -> Response:
        """Read an engagement and its counters"""
        return detail_response(get_owned(Engagement, engagement_id), EngagementSchema)

    def patch(self, engagement_id: str) -> Response:
        """Change an engagement; `status: scheduled` answers 202 and starts sending"""
        document = read_document(request)
        engagement = get_owned(Engagement, engagement_id, for_update=True)
        changes = load_resource(
            EngagementPatchSchema(), document.data, id_=engagement.id, partial=True
        )
        dispatching = update_engagement(engagement, changes)
        return detail_response(engagement, EngagementSchema, 202 if dispatching else 200)
