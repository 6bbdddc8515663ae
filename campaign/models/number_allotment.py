"""Operator allotments: number N belongs to account A and may send at most T segments/s.

Only the operator writes them (`campaign phone-numbers allot` / `create`); the API reads them.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaign.extensions import db
from campaign.models.base import AccountScoped, Timestamps, id_column


class NumberAllotment(AccountScoped, Timestamps, db.Model):
    """One E.164 number, allotted to one account, with the operator's throughput cap.

    `number` is unique across accounts, and `phone_numbers` references (number, account_id)
    here, so the database itself refuses a sender row for a number its account does not hold.
    """

    __tablename__ = "number_allotments"
    __table_args__ = (
        # The target of phone_numbers' composite foreign key.
        UniqueConstraint("number", "account_id"),
        CheckConstraint("max_throughput >= 1", name="max_throughput_positive"),
    )

    id: Mapped[str] = id_column()
    number: Mapped[str] = mapped_column(String(16), unique=True)
    # Segments per second any sender of this number may be set to, across all workers.
    max_throughput: Mapped[int]
