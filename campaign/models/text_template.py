"""Message templates: a Jinja2 body whose variables read an envelope's `meta`."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from campaign.extensions import db
from campaign.models.base import AccountScoped, JSONDocument, Timestamps, id_column


class TextTemplate(AccountScoped, Timestamps, db.Model):
    __tablename__ = "text_templates"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    # The meta keys the body reads, kept with the body so lists need not re-parse it.
    variables: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
