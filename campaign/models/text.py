"""Texts: one message per step of an envelope's run, created when the run enters a text
activity (by the dispatcher for an engagement's first step); and the account's own texts,
which belong to no engagement: what recipients send us (`inbound`, `received`) and the
auto-replies to their keywords (docs/inbound.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy import Text as TextColumn
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.extensions import db
from campaign.flows.steps import Event, ExitType
from campaign.models.base import ID_LENGTH, AccountScoped, Timestamps, UTCDateTime, id_column
from campaign.models.engagement import Engagement
from campaign.models.envelope import Envelope, EnvelopeStatus


class TextStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    # An inbound text: what a recipient sent us. It never moves.
    RECEIVED = "received"


class TextDirection(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


T = TextStatus
# How far along a text is; a status change never goes to a lower rank, so a late or repeated
# receipt cannot undo a later one. `unknown` may still become `sent` when the carrier says so.
RANK: dict[TextStatus, int] = {
    T.QUEUED: 0,
    T.SENDING: 1,
    T.UNKNOWN: 2,
    T.SENT: 2,
    T.DELIVERED: 3,
    T.UNDELIVERED: 3,
    T.FAILED: 3,
    T.CANCELLED: 3,
    T.RECEIVED: 3,
}
# The envelope's status that follows from its text's.
ENVELOPE_STATUS: dict[TextStatus, EnvelopeStatus] = {
    T.QUEUED: EnvelopeStatus.PROCESSING,
    T.SENDING: EnvelopeStatus.PROCESSING,
    T.SENT: EnvelopeStatus.COMPLETED,
    T.DELIVERED: EnvelopeStatus.COMPLETED,
    T.UNDELIVERED: EnvelopeStatus.FAILED,
    T.FAILED: EnvelopeStatus.FAILED,
    T.UNKNOWN: EnvelopeStatus.FAILED,
    T.CANCELLED: EnvelopeStatus.CANCELLED,
}


# The event a text's status ends its run step with (queued, sending and cancelled are none).
EVENT: dict[TextStatus, Event] = {
    T.SENT: Event.TEXT_SENT,
    T.DELIVERED: Event.TEXT_DELIVERED,
    T.UNDELIVERED: Event.TEXT_UNDELIVERED,
    T.FAILED: Event.TEXT_FAILED,
    # The carrier may have it; until its receipt says otherwise the step failed.
    T.UNKNOWN: Event.TEXT_FAILED,
}
# The exit of a run whose last step is this text, when no trigger leads on.
EXIT_TYPE: dict[TextStatus, ExitType] = {
    T.SENT: ExitType.COMPLETED,
    T.DELIVERED: ExitType.COMPLETED,
    T.UNDELIVERED: ExitType.FAILED,
    T.FAILED: ExitType.FAILED,
    T.UNKNOWN: ExitType.FAILED,
    T.CANCELLED: ExitType.CANCELLED,
}


def statuses_before(status: TextStatus) -> list[str]:
    """The statuses a text may move to `status` from."""
    earlier = [s.value for s, rank in RANK.items() if rank < RANK[status]]
    if status == T.SENT:
        earlier.append(T.UNKNOWN.value)
    return earlier


class Text(AccountScoped, Timestamps, db.Model):
    __tablename__ = "texts"
    __table_args__ = (
        # At most one text per run step: a flow may come back to an activity, a step never twice.
        # Inbound texts are not steps: a recipient may answer one step many times.
        Index(
            "uq_texts_envelope_id_step",
            "envelope_id",
            "step",
            unique=True,
            postgresql_where=text("direction = 'outbound'"),
            sqlite_where=text("direction = 'outbound'"),
        ),
        # Claims scan one engagement's queued texts in envelope order.
        Index(
            "ix_texts_engagement_id_status_envelope_id", "engagement_id", "status", "envelope_id"
        ),
        # An inbound text finds the envelope that last texted its sender.
        Index("ix_texts_account_id_to", "account_id", "to"),
        # A carrier's retried delivery of an inbound text stores one row.
        Index(
            "uq_texts_account_id_inbound_message_id",
            "account_id",
            "provider_message_id",
            unique=True,
            postgresql_where=text("direction = 'inbound'"),
            sqlite_where=text("direction = 'inbound'"),
        ),
    )

    id: Mapped[str] = id_column()
    direction: Mapped[str] = mapped_column(String(16), default=TextDirection.OUTBOUND.value)
    # Null only for the account's own texts (inbound, auto-replies) outside any run.
    engagement_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("engagements.id", ondelete="CASCADE")
    )
    envelope_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("envelopes.id", ondelete="CASCADE")
    )
    activity_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("activities.id", ondelete="CASCADE")
    )
    step: Mapped[int] = mapped_column(default=1)
    to: Mapped[str] = mapped_column(String(16))
    from_: Mapped[str] = mapped_column("from", String(16))
    body: Mapped[str | None] = mapped_column(TextColumn)
    status: Mapped[str] = mapped_column(String(16), default=TextStatus.QUEUED.value)
    segments: Mapped[int | None]
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(TextColumn)
    # The carrier's id of the message: its answer to our send, or an inbound text's own id.
    provider_message_id: Mapped[str | None] = mapped_column(String(64), index=True)
    retry_attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When a worker claimed it for sending; the sweep finds texts stuck in `sending` by it.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    engagement: Mapped[Engagement | None] = relationship(lazy="raise_on_sql")
    envelope: Mapped[Envelope | None] = relationship(lazy="raise_on_sql")
