"""`POST /api/v1/activities/{id}/test-requests` (SmartFlows' Test HTTP Request): a web-call
activity's call made once with sample variables; the answer is a `test-requests` resource with
the request sent (secrets masked), the answer (body up to 64 KiB), the variables it would
extract and whether it succeeded. No run is created and nothing is stored."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow_jsonapi import Schema, fields

from campaign import transaction
from campaign.documents import load_resource, read_document
from campaign.extensions import db
from campaign.jsonapi import document_response, request_extensions
from campaign.models import Activity
from campaign.resources.base import (
    API_PREFIX,
    Related,
    Timestamp,
    dasherize,
    dump,
    get_owned,
    write_query_guard,
)
from campaign.services import test_requests

blp = Blueprint(
    "test-requests",
    __name__,
    url_prefix=f"{API_PREFIX}/activities",
    description="Test HTTP Request: a web-call activity's call made once, with sample variables",
)


class TestRequestSchema(Schema):
    id = fields.Str(dump_only=True)
    created_at = Timestamp(dump_only=True, metadata={"description": "when the call was made"})
    # Sent: the sample variables (as an envelope's meta); answered: what the call extracted.
    variables = fields.Dict(
        allow_none=True,
        metadata={"description": "in: sample variables; out: the variables it would extract"},
    )
    request = fields.Raw(dump_only=True, metadata={"description": "method, url, headers"})
    response = fields.Raw(dump_only=True, metadata={"description": "status, headers, body"})
    success = fields.Bool(dump_only=True)
    reason = fields.Str(dump_only=True, allow_none=True)
    activity = Related("activities", id_attribute="activity_id", dump_only=True)

    class Meta:
        type_ = "test-requests"
        inflect = dasherize
        ordered = True


blp.before_request(write_query_guard(TestRequestSchema))


def _sample_variables() -> Any:
    """The body's sample variables; the body is optional (no variables)."""
    if not request.get_data(cache=True).strip():
        request_extensions(request)  # an empty body still names a media type we take
        return None
    loaded = load_resource(TestRequestSchema(), read_document(request).data)
    return loaded.get("variables")


@blp.route("/<string:activity_id>/test-requests")
class TestRequestList(MethodView):
    def post(self, activity_id: str) -> Response:
        """Make a web-call activity's request once (Test HTTP Request); creates no run"""
        config = current_app.config
        variables = _sample_variables()
        activity = get_owned(Activity, activity_id)
        prepared = test_requests.prepare(
            activity, variables, max_meta_bytes=config["MAX_META_BYTES"]
        )
        # Nothing was written; the connection goes back to the pool before a call that may
        # take the activity's whole timeout (up to 200 s).
        transaction.commit()
        db.session.close()
        tested = test_requests.make(
            prepared,
            allow_hosts=config["WEB_CALL_ALLOW_HOSTS"],
            max_value_bytes=config["MAX_META_BYTES"],
        )
        return document_response(dump(TestRequestSchema, tested))
