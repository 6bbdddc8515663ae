"""`text-templates`: message bodies with `{{first-name}}` variables read from envelope meta."""

from __future__ import annotations

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import validate
from marshmallow_jsonapi import fields

from campaign.auth import current_account
from campaign.documents import load_resource, read_document
from campaign.models import TextTemplate
from campaign.resources.base import (
    API_PREFIX,
    ResourceSchema,
    created_response,
    detail_response,
    get_owned,
    list_response,
    write_query_guard,
)
from campaign.services.text_templates import (
    create_text_template,
    delete_text_template,
    update_text_template,
)

blp = Blueprint(
    "text-templates",
    __name__,
    url_prefix=f"{API_PREFIX}/text-templates",
    description="Message templates; `{{first-name}}` reads the envelope's meta",
)


class TextTemplateSchema(ResourceSchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=255))
    body = fields.Str(required=True, validate=validate.Length(min=1))
    variables = fields.List(
        fields.Str(),
        dump_only=True,
        metadata={"description": 'the meta keys the body reads, e.g. ["first-name"]'},
    )

    class Meta(ResourceSchema.Meta):
        type_ = "text-templates"
        self_url = f"{API_PREFIX}/text-templates/{{id}}"
        self_url_kwargs = {"id": "<id>"}


blp.before_request(write_query_guard(TextTemplateSchema))


@blp.route("")
class TextTemplateList(MethodView):
    def get(self) -> Response:
        """List text templates"""
        return list_response(TextTemplate, TextTemplateSchema, {})

    def post(self) -> Response:
        """Create a text template"""
        attributes = load_resource(TextTemplateSchema(), read_document(request).data)
        template = create_text_template(current_account(), **attributes)
        return created_response(template, TextTemplateSchema)


@blp.route("/<string:text_template_id>")
class TextTemplateDetail(MethodView):
    def get(self, text_template_id: str) -> Response:
        """Read a text template"""
        return detail_response(get_owned(TextTemplate, text_template_id), TextTemplateSchema)

    def patch(self, text_template_id: str) -> Response:
        """Change a text template's name or body"""
        document = read_document(request)
        template = get_owned(TextTemplate, text_template_id, for_update=True)
        changes = load_resource(TextTemplateSchema(), document.data, id_=template.id, partial=True)
        return detail_response(update_text_template(template, changes), TextTemplateSchema)

    def delete(self, text_template_id: str) -> Response:
        """Delete a text template"""
        delete_text_template(get_owned(TextTemplate, text_template_id))
        return Response(status=204)
