"""Triggers (Omnigage's resource): what follows an activity's event in a run.

One row says: when a run's step at `activity_id` ends with `on_event` (and, for a split, the
matched `category`), the run goes on at `next_activity_id` after `delay_in_seconds`. Both
activities belong to `engagement_id`. Unique on (activity, event, category), so a run never
forks: the empty string stands for "no category" in that key, since SQL never finds two NULLs
equal; the API shows it as null.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from campaign.extensions import db
from campaign.models.base import ID_LENGTH, AccountScoped, Timestamps, id_column

NO_CATEGORY = ""


class TriggerKind(StrEnum):
    ACTIVITY = "activity"


class Trigger(AccountScoped, Timestamps, db.Model):
    __tablename__ = "triggers"
    __table_args__ = (UniqueConstraint("activity_id", "on_event", "category"),)

    id: Mapped[str] = id_column()
    kind: Mapped[str] = mapped_column(String(16), default=TriggerKind.ACTIVITY.value)
    engagement_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    activity_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("activities.id", ondelete="CASCADE")
    )
    next_activity_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    on_event: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(64), default=NO_CATEGORY)
    delay_in_seconds: Mapped[int] = mapped_column(default=0)

    @property
    def shown_category(self) -> str | None:
        return self.category or None
