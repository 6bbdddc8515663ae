"""Opt-outs: the numbers an account must not text, and how each came to be on file.

One row per (account, number); the claim of a text will probe that unique index, so a number
with a row is never texted (docs/inbound.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import CheckConstraint, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from campaign.extensions import db
from campaign.models.base import AccountScoped, Timestamps, id_column


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
