"""Texts: one message per envelope and activity, created by the dispatcher."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text as TextColumn, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.extensions import db
from campaign.models.base import ID_LENGTH, AccountScoped, Timestamps, UTCDateTime, id_column
from campaign.models.engagement import Engagement
from campaign.models.envelope import Envelope


class TextStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


class Text(AccountScoped, Timestamps, db.Model):
    __tablename__ = "texts"
    __table_args__ = (
        UniqueConstraint("envelope_id", "activity_id"),
        Index("ix_texts_engagement_id_status", "engagement_id", "status"),
    )

    id: Mapped[str] = id_column()
    engagement_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("engagements.id", ondelete="CASCADE")
    )
    envelope_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("envelopes.id", ondelete="CASCADE")
    )
    activity_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("activities.id", ondelete="CASCADE")
    )
    to: Mapped[str] = mapped_column(String(16))
    from_: Mapped[str] = mapped_column("from", String(16))
    body: Mapped[str | None] = mapped_column(TextColumn)
    status: Mapped[str] = mapped_column(String(16), default=TextStatus.QUEUED.value)
    segments: Mapped[int | None]
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(TextColumn)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    retry_attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    engagement: Mapped[Engagement] = relationship(lazy="raise_on_sql")
    envelope: Mapped[Envelope] = relationship(lazy="raise_on_sql")
