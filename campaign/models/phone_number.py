"""Sender phone numbers of an account, each with the rate its carrier allows."""

from __future__ import annotations

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaign.extensions import db
from campaign.models.base import AccountScoped, Timestamps, id_column


class PhoneNumber(AccountScoped, Timestamps, db.Model):
    __tablename__ = "phone_numbers"
    __table_args__ = (UniqueConstraint("account_id", "number"),)

    id: Mapped[str] = id_column()
    number: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(255))
    # Messages (segments) per second this sender may send, across all workers.
    throughput: Mapped[int]
