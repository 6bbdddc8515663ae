"""`activities`: what an engagement sends (kind `text`): its template and its sender number."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import validate
from marshmallow_jsonapi import fields

from campaign.auth import current_account
from campaign.documents import load_resource, read_document
from campaign.models import Activity
from campaign.resources.base import (
    API_PREFIX,
    Related,
    ResourceSchema,
    created_response,
    detail_response,
    get_owned,
    list_response,
    write_query_guard,
)
from campaign.services.activities import create_activity, delete_activity, update_activity

blp = Blueprint(
    "activities",
    __name__,
    url_prefix=f"{API_PREFIX}/activities",
    description="What an engagement sends: a text from a template and a sender",
)


class ActivitySchema(ResourceSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=255))
    kind = fields.Str(required=True, metadata={"description": "text (voice, email, ...: 400)"})
    status = fields.Str(dump_only=True, metadata={"description": "the engagement's status"})
    engagement = Related(
        "engagements", id_attribute="engagement_id", required=True, schema="EngagementSchema"
    )
    text_template = Related(
        "text-templates",
        id_attribute="text_template_id",
        required=True,
        schema="TextTemplateSchema",
    )
    phone_number = Related(
        "phone-numbers", id_attribute="phone_number_id", required=True, schema="PhoneNumberSchema"
    )

    class Meta(ResourceSchema.Meta):
        type_ = "activities"
        self_url = f"{API_PREFIX}/activities/{{id}}"
        self_url_kwargs = {"id": "<id>"}


blp.before_request(write_query_guard(ActivitySchema))


# `filter[...]` of the list view, by name: the column each one matches (OpenAPI reads these).
FILTERS: dict[str, Any] = {
    "engagement": Activity.engagement_id,
    "text-template": Activity.text_template_id,
    "phone-number": Activity.phone_number_id,
}


@blp.route("")
class ActivityList(MethodView):
    def get(self) -> Response:
        """List activities"""
        return list_response(Activity, ActivitySchema, FILTERS)

    def post(self) -> Response:
        """Create a text activity for an engagement"""
        attributes = load_resource(ActivitySchema(), read_document(request).data)
        activity = create_activity(current_account(), **attributes)
        return created_response(activity, ActivitySchema)


@blp.route("/<string:activity_id>")
class ActivityDetail(MethodView):
    def get(self, activity_id: str) -> Response:
        """Read an activity"""
        return detail_response(get_owned(Activity, activity_id), ActivitySchema)

    def patch(self, activity_id: str) -> Response:
        """Change an activity's name, template or sender (while its engagement is pending)"""
        document = read_document(request)
        activity = get_owned(Activity, activity_id, for_update=True)
        changes = load_resource(ActivitySchema(), document.data, id_=activity.id, partial=True)
        return detail_response(update_activity(activity, changes), ActivitySchema)

    def delete(self, activity_id: str) -> Response:
        """Delete an activity (while its engagement is pending)"""
        delete_activity(get_owned(Activity, activity_id))
        return Response(status=204)
