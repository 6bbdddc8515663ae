"""Idempotent requests: the first answer to each `Idempotency-Key` of an account, kept 24 hours
(campaign/idempotency.py reads and writes them).

A row is claimed (committed, `status` null, `locked_until` a lease) before the request's work
begins, so a repeat that arrives meanwhile sees it in flight; the answer is written in the same
transaction as the work. A process killed mid-request leaves the claim, which its lease ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaign.extensions import db
from campaign.models.base import AccountScoped, JSONDocument, Timestamps, UTCDateTime, id_column

MAX_KEY_LENGTH = 255


class IdempotentRequest(AccountScoped, Timestamps, db.Model):
    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    id: Mapped[str] = id_column()
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    # SHA-256 of the method, path and query, and body: the same key must mean the same request.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The stored answer; null while the first request is in flight.
    status: Mapped[int | None]
    headers: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
