"""`opt-outs`: the numbers the account must not text; POSTed one at a time or as a suppression
list (`ext=bulk`), deleted to opt a number back in."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow_jsonapi import fields

from campaign.auth import current_account
from campaign.documents import check_members, check_resource, read_document
from campaign.errors import ApiError, ApiErrors
from campaign.jsonapi import document_response
from campaign.listing import OneOf
from campaign.models import OptOut, OptOutSource
from campaign.resources.base import (
    API_PREFIX,
    ResourceSchema,
    created_response,
    detail_response,
    dump,
    get_owned,
    list_response,
    write_query_guard,
)
from campaign.services.opt_outs import create_opt_outs, delete_opt_out

blp = Blueprint(
    "opt-outs",
    __name__,
    url_prefix=f"{API_PREFIX}/opt-outs",
    description="Numbers never to text; POST an array with Content-Type ext=bulk to import many",
)


class OptOutSchema(ResourceSchema):
    phone_number = fields.Str(required=True, metadata={"description": "stored as E.164"})
    source = fields.Str(
        dump_only=True,
        metadata={"description": "keyword (the recipient's STOP), carrier, or api (POSTed)"},
    )

    class Meta(ResourceSchema.Meta):
        type_ = "opt-outs"
        self_url = f"{API_PREFIX}/opt-outs/{{id}}"
        self_url_kwargs = {"id": "<id>"}


blp.before_request(write_query_guard(OptOutSchema))


# `filter[...]` of the list view, by name: the column each one matches (OpenAPI reads these).
FILTERS: dict[str, Any] = {
    "phone-number": OptOut.phone_number,
    "source": OneOf.of(OptOut.source, OptOutSource),
}


def _checked_attributes(items: list[Any], bulk: bool) -> list[dict[str, Any]]:
    """Each item's attributes, once every item is an `opt-outs` object with only writable
    members; else every shape error at once, at its item's pointer."""
    schema = OptOutSchema()
    errors: list[ApiError] = []
    for index, item in enumerate(items):
        pointer = f"/data/{index}" if bulk else "/data"
        found = check_resource(item, OptOutSchema.Meta.type_, pointer=pointer)
        errors.extend(found or check_members(item, schema, pointer))
    if errors:
        raise ApiErrors(errors)
    return [item.get("attributes") or {} for item in items]


@blp.route("")
class OptOutList(MethodView):
    def get(self) -> Response:
        """List the account's opt-outs"""
        return list_response(OptOut, OptOutSchema, FILTERS)

    def post(self) -> Response:
        """Opt one number out, or many with `Content-Type: ...; ext=bulk` (all or none); a number
        already opted out keeps its opt-out, answered as it is (200 when nothing was added)"""
        document = read_document(request, bulk_allowed=True)
        bulk = isinstance(document.data, list)
        items = document.data if bulk else [document.data]
        imported = create_opt_outs(current_account(), _checked_attributes(items, bulk))
        if not bulk:
            [opt_out] = imported.opt_outs
            if opt_out.id in imported.created:
                return created_response(opt_out, OptOutSchema)
            return detail_response(opt_out, OptOutSchema)
        answer = dump(OptOutSchema, imported.opt_outs, many=True)
        return document_response(answer, 201 if imported.created else 200, bulk=True)


@blp.route("/<string:opt_out_id>")
class OptOutDetail(MethodView):
    def get(self, opt_out_id: str) -> Response:
        """Read an opt-out"""
        return detail_response(get_owned(OptOut, opt_out_id), OptOutSchema)

    def delete(self, opt_out_id: str) -> Response:
        """Opt the number back in"""
        delete_opt_out(get_owned(OptOut, opt_out_id))
        return Response(status=204)
