"""Envelopes: one recipient of an engagement, with the `meta` its template reads."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.extensions import db
from campaign.models.activity import Activity
from campaign.models.base import (
    ID_LENGTH,
    AccountScoped,
    JSONDocument,
    Timestamps,
    UTCDateTime,
    id_column,
)
from campaign.models.engagement import Engagement


class EnvelopeStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Envelope(AccountScoped, Timestamps, db.Model):
    __tablename__ = "envelopes"
    __table_args__ = (
        # A number is messaged at most once per engagement.
        UniqueConstraint("engagement_id", "phone_number"),
        Index("ix_envelopes_engagement_id_id", "engagement_id", "id"),
        # Engagement counters are counts of envelopes by status.
        Index("ix_envelopes_engagement_id_status", "engagement_id", "status"),
    )

    id: Mapped[str] = id_column()
    engagement_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("engagements.id", ondelete="CASCADE")
    )
    activity_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("activities.id", ondelete="SET NULL"), index=True
    )
    phone_number: Mapped[str] = mapped_column(String(16))
    meta: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=EnvelopeStatus.PENDING.value)
    retry_attempts: Mapped[int] = mapped_column(default=0)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    engagement: Mapped[Engagement] = relationship(lazy="raise_on_sql")
    activity: Mapped[Activity | None] = relationship(lazy="raise_on_sql")

    @classmethod
    def meta_lacks(cls, key: str, dialect: str) -> ColumnElement[bool]:
        """SQL condition: this envelope's meta has no `key` (JSONB `?` on Postgres)."""
        if dialect == "postgresql":
            return ~cls.meta.op("?", is_comparison=True)(key)
        path = '$."' + key.replace('"', '\\"') + '"'
        return func.json_type(cls.meta, path).is_(None)
