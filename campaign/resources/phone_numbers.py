"""`phone-numbers`: the account's sender numbers and their throughput."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import validate
from marshmallow_jsonapi import fields

from campaign.auth import current_account
from campaign.documents import load_resource, read_document
from campaign.models import PhoneNumber
from campaign.resources.base import (
    API_PREFIX,
    ResourceSchema,
    created_response,
    detail_response,
    get_owned,
    list_response,
    write_query_guard,
)
from campaign.services.phone_numbers import (
    create_phone_number,
    delete_phone_number,
    update_phone_number,
)

blp = Blueprint(
    "phone-numbers",
    __name__,
    url_prefix=f"{API_PREFIX}/phone-numbers",
    description="Sender phone numbers (E.164) and their messages-per-second limit",
)


class PhoneNumberSchema(ResourceSchema):
    number = fields.Str(required=True, metadata={"description": "E.164, e.g. +15195550100"})
    name = fields.Str(allow_none=True, validate=validate.Length(max=255))
    throughput = fields.Int(
        strict=True,
        validate=validate.Range(1, 10_000),
        metadata={"description": "messages (segments) per second this sender may send"},
    )

    class Meta(ResourceSchema.Meta):
        type_ = "phone-numbers"
        self_url = f"{API_PREFIX}/phone-numbers/{{id}}"
        self_url_kwargs = {"id": "<id>"}


blp.before_request(write_query_guard(PhoneNumberSchema))


# `filter[...]` of the list view, by name: the column each one matches (OpenAPI reads these).
FILTERS: dict[str, Any] = {"number": PhoneNumber.number}


@blp.route("")
class PhoneNumberList(MethodView):
    def get(self) -> Response:
        """List the account's phone numbers"""
        return list_response(PhoneNumber, PhoneNumberSchema, FILTERS)

    def post(self) -> Response:
        """Add a phone number"""
        attributes = load_resource(PhoneNumberSchema(), read_document(request).data)
        phone = create_phone_number(current_account(), **attributes)
        return created_response(phone, PhoneNumberSchema)


@blp.route("/<string:phone_number_id>")
class PhoneNumberDetail(MethodView):
    def get(self, phone_number_id: str) -> Response:
        """Read a phone number"""
        return detail_response(get_owned(PhoneNumber, phone_number_id), PhoneNumberSchema)

    def patch(self, phone_number_id: str) -> Response:
        """Change a phone number's name, number or throughput"""
        document = read_document(request)
        phone = get_owned(PhoneNumber, phone_number_id, for_update=True)
        changes = load_resource(PhoneNumberSchema(), document.data, id_=phone.id, partial=True)
        return detail_response(update_phone_number(phone, changes), PhoneNumberSchema)

    def delete(self, phone_number_id: str) -> Response:
        """Delete a phone number (refused while an engagement sends from it)"""
        delete_phone_number(get_owned(PhoneNumber, phone_number_id))
        return Response(status=204)
