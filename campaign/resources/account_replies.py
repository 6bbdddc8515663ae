"""`account-replies`: what the account answers each keyword with, one per `keyword` (`opt-out`,
`opt-in`, `help`), listed with the defaults until PATCHed; `body: null` restores the default.
Nothing to create or delete: the keywords are fixed (compliance/keywords.py)."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow_jsonapi import fields

from campaign.auth import current_account
from campaign.compliance.keywords import Keyword
from campaign.documents import load_resource, read_document
from campaign.listing import OneOf
from campaign.models import AccountReply
from campaign.resources.base import (
    API_PREFIX,
    ResourceSchema,
    detail_response,
    get_owned,
    list_response,
    write_query_guard,
)
from campaign.services.account_replies import ensure_account_replies, update_account_reply

blp = Blueprint(
    "account-replies",
    __name__,
    url_prefix=f"{API_PREFIX}/account-replies",
    description="The auto-replies to STOP, START and HELP; filter[keyword]=opt-out|opt-in|help",
)


class AccountReplySchema(ResourceSchema):
    keyword = fields.Str(
        dump_only=True, metadata={"description": "opt-out (STOP...), opt-in (START...), help"}
    )
    body = fields.Str(
        required=True,
        allow_none=True,
        metadata={"description": "the reply's text; null restores the default"},
    )
    is_default = fields.Bool(dump_only=True)

    class Meta(ResourceSchema.Meta):
        type_ = "account-replies"
        self_url = f"{API_PREFIX}/account-replies/{{id}}"
        self_url_kwargs = {"id": "<id>"}


blp.before_request(write_query_guard(AccountReplySchema))


# `filter[...]` of the list view, by name: the column each one matches (OpenAPI reads these).
FILTERS: dict[str, Any] = {"keyword": OneOf.of(AccountReply.keyword, Keyword)}


@blp.route("")
class AccountReplyList(MethodView):
    def get(self) -> Response:
        """List the account's replies to each keyword"""
        ensure_account_replies(current_account())
        return list_response(AccountReply, AccountReplySchema, FILTERS)


@blp.route("/<string:account_reply_id>")
class AccountReplyDetail(MethodView):
    def get(self, account_reply_id: str) -> Response:
        """Read the reply to one keyword"""
        return detail_response(get_owned(AccountReply, account_reply_id), AccountReplySchema)

    def patch(self, account_reply_id: str) -> Response:
        """Change the reply to one keyword (`body: null`: back to the default)"""
        document = read_document(request)
        reply = get_owned(AccountReply, account_reply_id, for_update=True)
        changes = load_resource(AccountReplySchema(), document.data, id_=reply.id, partial=True)
        if "body" in changes:
            update_account_reply(reply, changes["body"])
        return detail_response(reply, AccountReplySchema)
