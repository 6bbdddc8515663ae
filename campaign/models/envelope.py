"""Envelopes: one recipient of an engagement, with the `meta` its template reads, and its run.

The envelope is the run (docs/flows.md): `activity_id` and `step` say where it is (step 0: not
started), `next_step_at` when its current step is due to be performed (a trigger's delay, or a
web call's lease while it is being made; null while a text is in flight or once exited),
`exit_type` how it ended, `values` what its web calls returned and its splits matched, `path`
every event on the way. `status` follows the run: pending, processing, then the exit's."""

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
        # The run job claims an engagement's due runs.
        Index("ix_envelopes_engagement_id_next_step_at", "engagement_id", "next_step_at"),
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
    step: Mapped[int] = mapped_column(default=0)
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_type: Mapped[str | None] = mapped_column(String(16))
    values: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    path: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)

    engagement: Mapped[Engagement] = relationship(lazy="raise_on_sql")
    activity: Mapped[Activity | None] = relationship(lazy="raise_on_sql")

    def variables(self) -> dict[str, str]:
        """The run's variables: `meta` overlaid with what the run collected."""
        return run_variables(self.meta, self.values)

    @classmethod
    def meta_lacks(cls, key: str, dialect: str) -> ColumnElement[bool]:
        """SQL condition: this envelope's meta has no `key` (JSONB `?` on Postgres)."""
        if dialect == "postgresql":
            return ~cls.meta.op("?", is_comparison=True)(key)
        path = '$."' + key.replace('"', '\\"') + '"'
        return func.json_type(cls.meta, path).is_(None)


def run_variables(meta: dict[str, Any] | None, values: dict[str, Any] | None) -> dict[str, Any]:
    """`meta` overlaid with a run's `values` (`{name: {value, activity, at}}`): the later wins."""
    if not values:
        return dict(meta or {})
    return {**(meta or {}), **{name: entry["value"] for name, entry in values.items()}}
