"""`envelopes`: the recipients of an engagement, created one at a time or in bulk (`ext=bulk`)."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow_jsonapi import fields

from campaign.auth import current_account
from campaign.documents import check_resource, read_document
from campaign.errors import ApiErrors
from campaign.extensions import db
from campaign.flows.steps import ExitType
from campaign.jsonapi import document_response
from campaign.listing import Moment, OneOf
from campaign.models import Envelope, EnvelopeStatus
from campaign.resources.base import (
    API_PREFIX,
    Related,
    ResourceSchema,
    Timestamp,
    created_response,
    detail_response,
    format_timestamp,
    get_owned,
    list_response,
    resource_url,
    write_query_guard,
)
from campaign.services.envelopes import create_envelopes, delete_envelope, update_envelope

blp = Blueprint(
    "envelopes",
    __name__,
    url_prefix=f"{API_PREFIX}/envelopes",
    description="Recipients; POST an array with Content-Type ext=bulk to upload many",
)


class EnvelopeSchema(ResourceSchema):
    phone_number = fields.Str(required=True, metadata={"description": "stored as E.164"})
    meta = fields.Dict(metadata={"description": "flat object read by the template's variables"})
    status = fields.Str(dump_only=True)
    retry_attempts = fields.Int(dump_only=True)
    scheduled_at = Timestamp(dump_only=True, allow_none=True)
    processed_at = Timestamp(dump_only=True, allow_none=True)
    completed_at = Timestamp(dump_only=True, allow_none=True)
    # The run (docs/flows.md): what it collected, each step it took, how it ended, where it is.
    values = fields.Dict(
        dump_only=True, metadata={"description": "{name: {value, activity, at}} the run collected"}
    )
    path = fields.List(
        fields.Dict(),
        dump_only=True,
        metadata={"description": "each step: {activity, event, at}, with a failure's reason"},
    )
    exit_type = fields.Str(
        dump_only=True, allow_none=True, metadata={"description": "null while the run goes on"}
    )
    step = fields.Int(dump_only=True, metadata={"description": "steps taken; 0 before the first"})
    engagement = Related(
        "engagements", id_attribute="engagement_id", required=True, schema="EngagementSchema"
    )
    activity = Related(
        "activities", id_attribute="activity_id", dump_only=True, schema="ActivitySchema"
    )

    class Meta(ResourceSchema.Meta):
        type_ = "envelopes"
        self_url = f"{API_PREFIX}/envelopes/{{id}}"
        self_url_kwargs = {"id": "<id>"}


def new_envelope_resource(row: dict[str, Any]) -> dict[str, Any]:
    """The resource object of an envelope just inserted, built from its row.

    A bulk response carries up to 10,000 of these; reading them back and dumping them with
    marshmallow-jsonapi took longer than validating and storing them. The output is the
    EnvelopeSchema's (a test compares the two).
    """
    created = format_timestamp(row["created_at"])
    activity = row["activity_id"]
    return {
        "type": "envelopes",
        "id": row["id"],
        "attributes": {
            "created-at": created,
            "updated-at": created,
            "phone-number": row["phone_number"],
            "meta": row["meta"],
            "status": row["status"],
            "retry-attempts": row["retry_attempts"],
            "scheduled-at": None,
            "processed-at": None,
            "completed-at": None,
            "values": row.get("values") or {},
            "path": row.get("path") or [],
            "exit-type": row.get("exit_type"),
            "step": row.get("step", 0),
        },
        "relationships": {
            "engagement": {"data": {"type": "engagements", "id": row["engagement_id"]}},
            "activity": {"data": {"type": "activities", "id": activity} if activity else None},
        },
        "links": {"self": resource_url("envelopes", row["id"])},
    }


blp.before_request(write_query_guard(EnvelopeSchema))


# `filter[...]` of the list view, by name: the column each one matches (OpenAPI reads these).
FILTERS: dict[str, Any] = {
    "engagement": Envelope.engagement_id,
    "activity": Envelope.activity_id,
    "status": OneOf.of(Envelope.status, EnvelopeStatus),
    "exit-type": OneOf.of(Envelope.exit_type, ExitType),
    "phone-number": Envelope.phone_number,
    # `filter[updated-at][gt]=<moment>`: what changed since the last poll.
    "updated-at": Moment(Envelope.updated_at),
}


@blp.route("")
class EnvelopeList(MethodView):
    def get(self) -> Response:
        """List envelopes"""
        return list_response(Envelope, EnvelopeSchema, FILTERS)

    def post(self) -> Response:
        """Create one envelope, or many at once with `Content-Type: ...; ext=bulk` (all or none)"""
        document = read_document(request, bulk_allowed=True)
        bulk = isinstance(document.data, list)
        items = document.data if bulk else [document.data]
        rows = create_envelopes(current_account(), items)
        if not bulk:
            return created_response(db.session.get(Envelope, rows[0]["id"]), EnvelopeSchema)
        document = {
            "data": [new_envelope_resource(row) for row in rows],
            "jsonapi": {"version": "1.0"},
        }
        return document_response(document, 201, bulk=True)


@blp.route("/<string:envelope_id>")
class EnvelopeDetail(MethodView):
    def get(self, envelope_id: str) -> Response:
        """Read an envelope"""
        return detail_response(get_owned(Envelope, envelope_id), EnvelopeSchema)

    def patch(self, envelope_id: str) -> Response:
        """Change an envelope's number or meta (while its engagement is pending)"""
        document = read_document(request)
        envelope = get_owned(Envelope, envelope_id, for_update=True)
        errors = check_resource(document.data, "envelopes", id_=envelope.id)
        if errors:
            raise ApiErrors(errors)
        return detail_response(update_envelope(envelope, document.data), EnvelopeSchema)

    def delete(self, envelope_id: str) -> Response:
        """Delete an envelope (while its engagement is pending)"""
        delete_envelope(get_owned(Envelope, envelope_id))
        return Response(status=204)
