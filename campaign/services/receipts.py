"""Receipts (Twilio's status callbacks, Kannel's delivery reports) applied to texts; a receipt
saying the recipient opted out with the carrier (Twilio's 21610) records the opt-out too."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from campaign import transaction
from campaign.errors import NotFound
from campaign.extensions import db
from campaign.models import Engagement, Text, TextDirection, TextStatus, utcnow
from campaign.models.opt_out import record_carrier_opt_outs
from campaign.models.text_outcomes import advance_status
from campaign.providers import opt_out_codes
from campaign.workers.progress import request_refresh
from campaign.workers.runs import follow


def record_receipt(
    text_id: str,
    status: TextStatus,
    *,
    error_code: str | None = None,
    error_detail: str | None = None,
) -> bool:
    """Move the text forward to what the carrier reports; False when that changes nothing.

    Reports may come twice, late or out of order: a status never moves backwards, so only the
    first report of the furthest state counts.
    """
    found = db.session.execute(
        select(Text.engagement_id, Engagement.count_total)
        .outerjoin(Engagement, Engagement.id == Text.engagement_id)
        .where(Text.id == text_id, Text.direction == TextDirection.OUTBOUND.value)
    ).first()
    if found is None:
        raise NotFound(f"no text with id {text_id!r}")
    engagement_id, envelope_count = found
    now = utcnow()
    moved = advance_status(text_id, status, now, error_code=error_code, error_detail=error_detail)
    if moved is None:
        return False
    config = current_app.config
    if error_code in opt_out_codes(config):
        record_carrier_opt_outs([text_id])
    # A receipt may end a text step a run waited on: the run goes where its triggers lead.
    follow([moved], now, config)
    if engagement_id is not None:  # an auto-reply belongs to no engagement
        transaction.after_commit(lambda: request_refresh(engagement_id, envelope_count))
    return True
