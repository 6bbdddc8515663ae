"""`activities`: an engagement's steps: a text (a template and a sender), a web call, a split.

A web call's and a split's own attributes travel as raw JSON and are validated by the service
(`flows/definitions.py`); they are dumped from the stored settings as `definitions.shown` gives
them, so the write-only secrets (basic-auth password, oauth2 client-secret) never come back.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import validate
from marshmallow_jsonapi import fields

from campaign.auth import current_account
from campaign.documents import load_resource, read_document
from campaign.flows import definitions
from campaign.models import Activity, ActivityKind
from campaign.resources.base import (
    API_PREFIX,
    Related,
    ResourceSchema,
    created_response,
    dasherize,
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
    description="An engagement's steps: a text, a web call, a split on a variable",
)

# The kinds whose attributes live in `settings` (shown by definitions.shown).
_FLOW_KINDS = frozenset({ActivityKind.WEB_CALL.value, ActivityKind.SPLIT.value})


class FlowAttribute(fields.Raw):
    """A web-call or split attribute: loaded as the client wrote it (the service validates it),
    dumped from the activity's settings, never a secret; null on an activity of another kind."""

    def __init__(self, kind: ActivityKind, **kwargs: Any) -> None:
        super().__init__(allow_none=True, metadata={"kind": kind.value}, **kwargs)

    def serialize(self, attr: str, obj: Any, accessor: Any = None, **kwargs: Any) -> Any:
        if obj.kind not in _FLOW_KINDS:
            return None
        return definitions.shown(obj.kind, obj.settings or {}).get(dasherize(attr))


class ActivitySchema(ResourceSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=255))
    kind = fields.Str(required=True, metadata={"description": "text, web-call or split"})
    status = fields.Str(dump_only=True, metadata={"description": "the engagement's status"})
    # A web call's attributes, then a split's (flows/definitions.py validates them).
    method = FlowAttribute(ActivityKind.WEB_CALL)
    url = FlowAttribute(ActivityKind.WEB_CALL)
    headers = FlowAttribute(ActivityKind.WEB_CALL)
    basic_auth = FlowAttribute(ActivityKind.WEB_CALL)
    oauth2 = FlowAttribute(ActivityKind.WEB_CALL)
    content_type = FlowAttribute(ActivityKind.WEB_CALL)
    body = FlowAttribute(ActivityKind.WEB_CALL)
    timeout = FlowAttribute(ActivityKind.WEB_CALL)
    response_variables = FlowAttribute(ActivityKind.WEB_CALL)
    variable = FlowAttribute(ActivityKind.SPLIT)
    rules = FlowAttribute(ActivityKind.SPLIT)
    # Required by the service, each missing one reported at once: the engagement always, the
    # template and sender for a text (and refused for the other kinds).
    engagement = Related("engagements", id_attribute="engagement_id", schema="EngagementSchema")
    text_template = Related(
        "text-templates", id_attribute="text_template_id", schema="TextTemplateSchema"
    )
    phone_number = Related(
        "phone-numbers", id_attribute="phone_number_id", schema="PhoneNumberSchema"
    )

    class Meta(ResourceSchema.Meta):
        type_ = "activities"
        self_url = f"{API_PREFIX}/activities/{{id}}"
        self_url_kwargs = {"id": "<id>"}


# Python name of each flow field -> its JSON:API name, as the service takes them.
FLOW_NAMES = {
    name: dasherize(name)
    for name, field in ActivitySchema._declared_fields.items()
    if isinstance(field, FlowAttribute)
}


blp.before_request(write_query_guard(ActivitySchema))


# `filter[...]` of the list view, by name: the column each one matches (OpenAPI reads these).
FILTERS: dict[str, Any] = {
    "engagement": Activity.engagement_id,
    "text-template": Activity.text_template_id,
    "phone-number": Activity.phone_number_id,
}


def _loaded(document: dict[str, Any], **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The document's attributes and links, and apart from them the flow attributes the client
    gave, by their JSON:API names."""
    loaded = load_resource(ActivitySchema(), document, **kwargs)
    flow = {FLOW_NAMES[name]: loaded.pop(name) for name in list(loaded) if name in FLOW_NAMES}
    return loaded, flow


@blp.route("")
class ActivityList(MethodView):
    def get(self) -> Response:
        """List activities"""
        return list_response(Activity, ActivitySchema, FILTERS)

    def post(self) -> Response:
        """Create a text, web-call or split activity for a pending engagement"""
        attributes, flow = _loaded(read_document(request).data)
        activity = create_activity(current_account(), flow=flow, **attributes)
        return created_response(activity, ActivitySchema)


@blp.route("/<string:activity_id>")
class ActivityDetail(MethodView):
    def get(self, activity_id: str) -> Response:
        """Read an activity"""
        return detail_response(get_owned(Activity, activity_id), ActivitySchema)

    def patch(self, activity_id: str) -> Response:
        """Change an activity's name, kind, template, sender or settings (while its engagement
        is pending)"""
        document = read_document(request)
        activity = get_owned(Activity, activity_id, for_update=True)
        changes, flow = _loaded(document.data, id_=activity.id, partial=True)
        return detail_response(update_activity(activity, changes, flow=flow), ActivitySchema)

    def delete(self, activity_id: str) -> Response:
        """Delete an activity (while its engagement is pending)"""
        delete_activity(get_owned(Activity, activity_id))
        return Response(status=204)
