"""Activities: the steps of an engagement's flow (a text, a web call, a split on a variable).

An engagement has one or more; its `activity` is the entry (the first created unless PATCHed),
and triggers (`trigger.py`) link them. A `text` activity keeps its template and sender as
columns; a `web-call` or `split` keeps its own attributes in `settings` as
`flows/definitions.py` validated them, and a web call's password and client secret in `secrets`,
which are written, used by the run job and never dumped or logged."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import Exists, ForeignKey, String, exists
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column, relationship

from campaign.extensions import db
from campaign.models.base import ID_LENGTH, AccountScoped, JSONDocument, Timestamps, id_column
from campaign.models.engagement import UNFINISHED_STATUSES, Engagement
from campaign.models.phone_number import PhoneNumber
from campaign.models.text_template import TextTemplate


class ActivityKind(StrEnum):
    TEXT = "text"
    WEB_CALL = "web-call"
    SPLIT = "split"


# Omnigage's other kinds: recognised, so the error can say they are not supported here.
UNSUPPORTED_KINDS = frozenset({"voice", "email", "voicemail", "dial"})


class Activity(AccountScoped, Timestamps, db.Model):
    __tablename__ = "activities"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), default=ActivityKind.TEXT.value)
    engagement_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    # A deleted template or sender leaves the activity unschedulable rather than deleting it:
    # texts already sent keep their own copy of the body and the `from` number.
    text_template_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("text_templates.id", ondelete="SET NULL"), index=True
    )
    phone_number_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("phone_numbers.id", ondelete="SET NULL"), index=True
    )

    # A web call's or split's attributes (no secrets), and a web call's secrets.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    secrets: Mapped[dict[str, str]] = mapped_column(JSONDocument, default=dict)

    engagement: Mapped[Engagement] = relationship(
        back_populates="activities", foreign_keys=[engagement_id]
    )
    text_template: Mapped[TextTemplate | None] = relationship(lazy="joined")
    phone_number: Mapped[PhoneNumber | None] = relationship(lazy="joined")

    @classmethod
    def sends_with(cls, link: InstrumentedAttribute[str | None], row_id: str) -> Exists:
        """SQL: an activity linked to `row_id` belongs to an engagement that will still send."""
        return exists().where(
            link == row_id,
            cls.engagement_id == Engagement.id,
            Engagement.status.in_([status.value for status in UNFINISHED_STATUSES]),
        )

    @property
    def status(self) -> str:
        """An activity runs with its engagement, so it reports the engagement's status."""
        return self.engagement.status
