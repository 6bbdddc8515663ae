"""Opt-outs: the numbers an account must not text, and how each came to be on file.

One row per (account, number); the claim of a text will probe that unique index, so a number
with a row is never texted (docs/inbound.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from sqlalchemy import CheckConstraint, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from campaign.extensions import db
from campaign.models.base import (
    AccountScoped,
    Timestamps,
    id_column,
    insert_new_ids,
    new_ids,
    utcnow,
)
from campaign.models.text import Text


class OptOutSource(StrEnum):
    """Who recorded the opt-out: the recipient's keyword, the carrier, or the account's API."""

    KEYWORD = "keyword"
    CARRIER = "carrier"
    API = "api"


# The error code of a text held back because its recipient opted out.
OPTED_OUT = "opted-out"

_SOURCES = ", ".join(f"'{source.value}'" for source in OptOutSource)


class OptOut(AccountScoped, Timestamps, db.Model):
    """One E.164 number the account has been told not to text; opting back in deletes it."""

    __tablename__ = "opt_outs"
    __table_args__ = (
        # Opting out twice keeps the first row; the claim's anti-join probes this index.
        UniqueConstraint("account_id", "phone_number"),
        CheckConstraint(f"source IN ({_SOURCES})", name="source_known"),
    )

    id: Mapped[str] = id_column()
    phone_number: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))


def opted_out(account_id: str, numbers: Iterable[str]) -> set[str]:
    """Which of `numbers` (E.164) the account must not text: one probe of the unique index."""
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return set()
    return set(
        db.session.scalars(
            select(OptOut.phone_number).where(
                OptOut.account_id == account_id, OptOut.phone_number.in_(wanted)
            )
        )
    )


def insert_opt_outs(account_id: str, numbers: Sequence[str], source: OptOutSource) -> set[str]:
    """Opt these E.164 numbers out of the account in one statement; the ids of the rows added
    (a number already on file keeps its first opt-out, and a concurrent insert cannot fail)."""
    now = utcnow()
    rows = [
        {
            "id": id_,
            "account_id": account_id,
            "phone_number": number,
            "source": source.value,
            "created_at": now,
            "updated_at": now,
        }
        for id_, number in zip(new_ids(len(numbers)), numbers, strict=True)
    ]
    return insert_new_ids(OptOut, rows, unique=["account_id", "phone_number"])


def record_carrier_opt_outs(text_ids: Iterable[str]) -> None:
    """The carrier refused these texts because their recipients opted out with it: opt each
    recipient out of the text's account (`source: carrier`)."""
    ids = list(dict.fromkeys(text_ids))
    if not ids:
        return
    recipients: dict[str, list[str]] = {}
    for account_id, number in db.session.execute(
        select(Text.account_id, Text.to).where(Text.id.in_(ids))
    ):
        recipients.setdefault(account_id, []).append(number)
    for account_id, numbers in recipients.items():
        insert_opt_outs(account_id, list(dict.fromkeys(numbers)), OptOutSource.CARRIER)
