"""Sender phone numbers of an account, each with the rate its carrier allows.

A row can exist only for a number allotted to its account (a composite foreign key to
`number_allotments`), so one number never has senders in two accounts.
"""

from __future__ import annotations

from sqlalchemy import ForeignKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaign.extensions import db
from campaign.models.base import AccountScoped, Timestamps, id_column


class PhoneNumber(AccountScoped, Timestamps, db.Model):
    __tablename__ = "phone_numbers"
    __table_args__ = (
        UniqueConstraint("account_id", "number"),
        # Revoking an allotment removes its sender (activities keep their row, sender unset).
        ForeignKeyConstraint(
            ["number", "account_id"],
            ["number_allotments.number", "number_allotments.account_id"],
            ondelete="CASCADE",
        ),
    )

    id: Mapped[str] = id_column()
    number: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(255))
    # Messages (segments) per second this sender may send, across all workers; never above the
    # allotment's max_throughput (the service keeps it so).
    throughput: Mapped[int]
