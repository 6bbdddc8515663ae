"""`triggers` (Omnigage's): when a run's step at `activity` ends with `on-event` (a split's with
`category`), the run goes on at `next-activity` after `delay-in-seconds`."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow_jsonapi import fields

from campaign.auth import current_account
from campaign.documents import load_resource, read_document
from campaign.models import Trigger, TriggerKind
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
from campaign.services.triggers import create_trigger, delete_trigger, update_trigger

blp = Blueprint(
    "triggers",
    __name__,
    url_prefix=f"{API_PREFIX}/triggers",
    description="What follows an activity's event in a run: the next activity and a delay",
)


class TriggerSchema(ResourceSchema):
    kind = fields.Str(
        load_default=TriggerKind.ACTIVITY.value, metadata={"description": "always activity"}
    )
    on_event = fields.Str(
        required=True, metadata={"description": "the event of the activity's step it follows"}
    )
    # Stored as "" for none (the unique key's stand-in); shown and taken as null.
    category = fields.Str(
        attribute="shown_category",
        allow_none=True,
        metadata={"description": "the split's category (with on-event split only)"},
    )
    delay_in_seconds = fields.Int(
        strict=True, load_default=0, metadata={"description": "wait before the next activity"}
    )
    engagement = Related("engagements", id_attribute="engagement_id", dump_only=True)
    activity = Related("activities", id_attribute="activity_id", required=True)
    next_activity = Related("activities", id_attribute="next_activity_id", required=True)

    class Meta(ResourceSchema.Meta):
        type_ = "triggers"
        self_url = f"{API_PREFIX}/triggers/{{id}}"
        self_url_kwargs = {"id": "<id>"}


blp.before_request(write_query_guard(TriggerSchema))


# `filter[...]` of the list view, by name: the column each one matches (OpenAPI reads these).
FILTERS: dict[str, Any] = {
    "engagement": Trigger.engagement_id,
    "activity": Trigger.activity_id,
}


def _loaded(document: Any, **kwargs: Any) -> dict[str, Any]:
    loaded = load_resource(TriggerSchema(), document, **kwargs)
    if "shown_category" in loaded:
        loaded["category"] = loaded.pop("shown_category")
    return loaded


@blp.route("")
class TriggerList(MethodView):
    def get(self) -> Response:
        """List triggers"""
        return list_response(Trigger, TriggerSchema, FILTERS)

    def post(self) -> Response:
        """Create a trigger between two activities of a pending engagement"""
        trigger = create_trigger(current_account(), **_loaded(read_document(request).data))
        return created_response(trigger, TriggerSchema)


@blp.route("/<string:trigger_id>")
class TriggerDetail(MethodView):
    def get(self, trigger_id: str) -> Response:
        """Read a trigger"""
        return detail_response(get_owned(Trigger, trigger_id), TriggerSchema)

    def patch(self, trigger_id: str) -> Response:
        """Change a trigger (while its engagement is pending)"""
        document = read_document(request)
        trigger = get_owned(Trigger, trigger_id, for_update=True)
        changes = _loaded(document.data, id_=trigger.id, partial=True)
        return detail_response(update_trigger(trigger, changes), TriggerSchema)

    def delete(self, trigger_id: str) -> Response:
        """Delete a trigger (while its engagement is pending)"""
        delete_trigger(get_owned(Trigger, trigger_id))
        return Response(status=204)
