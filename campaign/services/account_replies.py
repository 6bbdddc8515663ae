"""The account's auto-replies to keywords: one row per keyword, made with the default text the
first time the account lists them, changed by PATCH (a body of null restores the default)."""

from __future__ import annotations

from campaign.compliance.keywords import Keyword
from campaign.errors import InvalidAttribute
from campaign.models import Account, AccountReply, new_ids, utcnow
from campaign.models.account_reply import DEFAULT_REPLIES, MAX_REPLY_LENGTH
from campaign.models.base import insert_new

BODY = "attributes/body"


def ensure_account_replies(account: Account) -> None:
    """Give the account its row for each keyword, with the default text, where it has none."""
    now = utcnow()
    insert_new(
        AccountReply,
        [
            {
                "id": id_,
                "account_id": account.id,
                "keyword": keyword.value,
                "body": DEFAULT_REPLIES[keyword],
                "created_at": now,
                "updated_at": now,
            }
            for id_, keyword in zip(new_ids(len(Keyword)), Keyword, strict=True)
        ],
        unique=["account_id", "keyword"],
    )


def update_account_reply(reply: AccountReply, body: object) -> AccountReply:
    """Set the reply's text; None restores its keyword's default."""
    if body is None:
        body = DEFAULT_REPLIES[Keyword(reply.keyword)]
    elif not isinstance(body, str) or not body.strip():
        raise InvalidAttribute("body must be a non-empty string, or null for the default", at=BODY)
    elif len(body) > MAX_REPLY_LENGTH:
        raise InvalidAttribute(
            f"body is {len(body)} characters; a reply is one text of at most {MAX_REPLY_LENGTH}",
            at=BODY,
        )
    elif "\x00" in body:
        raise InvalidAttribute("body must not contain NUL characters", at=BODY)
    reply.body = body
    return reply
