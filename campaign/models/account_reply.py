"""Account replies: what an account answers a recipient's keyword with (opt-out, opt-in, help).

One row per account and keyword, made with the default the first time the account lists them
(services/account_replies.py); a missing row means `DEFAULT_REPLIES`. The words each keyword
covers are `compliance/keywords.py`'s.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String, UniqueConstraint, select
from sqlalchemy import Text as TextColumn
from sqlalchemy.orm import Mapped, mapped_column

from campaign.compliance.keywords import Keyword
from campaign.extensions import db
from campaign.models.base import AccountScoped, Timestamps, id_column

# CTIA's expectations for each confirmation: the program, how to undo it, that rates apply.
DEFAULT_REPLIES: dict[Keyword, str] = {
    Keyword.OPT_OUT: (
        "You are unsubscribed and will receive no further messages. Reply START to resubscribe."
    ),
    Keyword.OPT_IN: "You are resubscribed. Reply STOP to unsubscribe.",
    Keyword.HELP: "Reply STOP to unsubscribe. Msg&data rates may apply.",
}
# Twilio's limit for one (concatenated) message; a reply is one text, never a campaign.
MAX_REPLY_LENGTH = 1600

_KEYWORDS = ", ".join(f"'{keyword.value}'" for keyword in Keyword)


class AccountReply(AccountScoped, Timestamps, db.Model):
    __tablename__ = "account_replies"
    __table_args__ = (
        UniqueConstraint("account_id", "keyword"),
        CheckConstraint(f"keyword IN ({_KEYWORDS})", name="keyword_known"),
    )

    id: Mapped[str] = id_column()
    keyword: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(TextColumn)

    @property
    def is_default(self) -> bool:
        return self.body == DEFAULT_REPLIES[Keyword(self.keyword)]


def reply_for(account_id: str, keyword: Keyword) -> str:
    """The account's answer to `keyword`: its own, or the default."""
    body = db.session.scalar(
        select(AccountReply.body).where(
            AccountReply.account_id == account_id, AccountReply.keyword == keyword.value
        )
    )
    return body if body is not None else DEFAULT_REPLIES[keyword]
