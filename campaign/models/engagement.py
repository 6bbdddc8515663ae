"""Engagements (campaigns) and the state machine of their status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.extensions import db
from campaign.models.base import (
    ID_LENGTH,
    AccountScoped,
    JSONDocument,
    Timestamps,
    UTCDateTime,
    id_column,
)

if TYPE_CHECKING:
    from campaign.models.activity import Activity
    from campaign.models.phone_number import PhoneNumber


# Twilio's ValidityPeriod bounds, in seconds.
MIN_VALIDITY_PERIOD, MAX_VALIDITY_PERIOD = 1, 36_000
# The zone of a recipient whose number names none, unless the engagement says otherwise.
DEFAULT_FALLBACK_TIMEZONE = "UTC"


class EngagementStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class DeliveryType(StrEnum):
    IMMEDIATELY = "immediately"
    SCHEDULED = "scheduled"
    # Runs start when an envelope is POSTed to the engagement while it sends (the Inbound API).
    TRIGGERED = "triggered"


class Direction(StrEnum):
    OUTBOUND = "outbound"


S = EngagementStatus
# Which status may follow which. `sending` and `completed` are set by the dispatcher only.
TRANSITIONS: dict[EngagementStatus, frozenset[EngagementStatus]] = {
    S.PENDING: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.SENDING, S.PAUSED, S.CANCELLED, S.COMPLETED}),
    S.SENDING: frozenset({S.PAUSED, S.CANCELLED, S.COMPLETED}),
    S.PAUSED: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}
CLIENT_STATUSES = frozenset({S.SCHEDULED, S.PAUSED, S.CANCELLED})
# Scheduled or sending: the dispatcher and the send jobs work it, the sweep watches it.
ACTIVE_STATUSES = frozenset({S.SCHEDULED, S.SENDING})
# An engagement in these states will still send: its sender and template must stay as they are.
UNFINISHED_STATUSES = ACTIVE_STATUSES | {S.PAUSED}


class InvalidTransition(Exception):
    """A status change the state machine does not allow; `detail` says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Engagement(AccountScoped, Timestamps, db.Model):
    __tablename__ = "engagements"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(255))
    direction: Mapped[str] = mapped_column(String(16), default=Direction.OUTBOUND.value)
    status: Mapped[str] = mapped_column(String(16), default=S.PENDING.value, index=True)
    delivery_type: Mapped[str] = mapped_column(String(16), default=DeliveryType.IMMEDIATELY.value)
    delivery_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the engagement was last PATCHed to `scheduled`; null while pending.
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The workers' sign of life while it sends (each send round), which the sweep reads; kept
    # apart from `updated_at`, the client's last-modified, so a sending engagement does not
    # move in lists sorted by `updated-at`. Null until a send job first touches it.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    count_total: Mapped[int | None]
    count_complete: Mapped[int | None]
    count_incomplete: Mapped[int | None]
    count_hold: Mapped[int | None]

    # The entry activity: where every run starts. Set after the activity's insert
    # (post_update), since the two rows point at each other.
    activity_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH),
        ForeignKey("activities.id", ondelete="SET NULL", use_alter=True),
        index=True,
    )
    # Names every envelope POSTed to a triggered engagement must carry in `meta` (exact case).
    expected_inputs: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    # Seconds a text may wait, from when it was queued, to be handed to the carrier (Twilio's
    # ValidityPeriod); null: no limit. A text past it fails `expired`, never sent late.
    validity_period: Mapped[int | None]
    # Quiet hours (Omnigage's queue schedule): when enabled, a text goes only while
    # `queue_schedule` ({timezone, start, end, days}; compliance/quiet_hours.py) is open in the
    # recipient's zone or the named one; `fallback_timezone` serves numbers of no known zone.
    queue_schedule_is_enabled: Mapped[bool] = mapped_column(default=False)
    queue_schedule: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    fallback_timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_FALLBACK_TIMEZONE)

    activity: Mapped[Activity | None] = relationship(
        foreign_keys=[activity_id], post_update=True, lazy="selectin"
    )
    activities: Mapped[list[Activity]] = relationship(
        back_populates="engagement",
        foreign_keys="Activity.engagement_id",
        order_by="Activity.created_at, Activity.id",
        lazy="select",
        passive_deletes=True,
    )

    @property
    def phone_numbers(self) -> list[PhoneNumber]:
        """The senders this engagement uses: its text activities' phone numbers, once each."""
        found: dict[str, PhoneNumber] = {}
        for activity in self.activities:
            if activity.phone_number is not None:
                found.setdefault(activity.phone_number.id, activity.phone_number)
        return list(found.values())

    @property
    def is_triggered(self) -> bool:
        """Runs start as envelopes arrive, so it never completes by itself."""
        return self.delivery_type == DeliveryType.TRIGGERED

    @property
    def generation(self) -> str:
        """Names one scheduling; a resume after a pause starts a new generation of jobs."""
        if self.scheduled_at is None:
            raise InvalidTransition("the engagement has not been scheduled")
        return str(int(self.scheduled_at.timestamp() * 1_000_000))

    def last_sign_of_life(self) -> datetime:
        """When a worker last showed it works on this engagement, or its last change."""
        return max(self.heartbeat_at or self.updated_at, self.updated_at)

    def transition_to(self, target: EngagementStatus) -> None:
        """Move to `target`, or raise InvalidTransition saying why not."""
        current = EngagementStatus(self.status)
        if target not in TRANSITIONS[current]:
            raise InvalidTransition(
                f"an engagement that is {current.value} cannot become {target.value}"
            )
        self.status = target.value
