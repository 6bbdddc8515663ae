"""Rendering a round's claimed texts: the template compiled once per batch, each run's
variables (its envelope's meta, overlaid with what its web calls returned), the segment count;
what cannot be sent fails here, before the carrier."""

from __future__ import annotations

from sqlalchemy import select

from campaign.extensions import db
from campaign.models import Envelope, TextStatus
from campaign.models.envelope import run_variables
from campaign.models.text_claims import Claimed
from campaign.models.text_outcomes import Outcome
from campaign.templates_engine import CompiledTemplate, RenderError, count_segments
from campaign.workers.send_outcomes import Ready


def render_claimed(
    template: CompiledTemplate, claimed: list[Claimed], max_segments: int
) -> tuple[list[Ready], list[Outcome]]:
    """Each claimed text rendered from its envelope's meta and counted: ready to send, or
    failed (a missing variable, a template error, more than `max_segments`)."""
    metas = {
        envelope_id: run_variables(meta, values)
        for envelope_id, meta, values in db.session.execute(
            select(Envelope.id, Envelope.meta, Envelope.values).where(
                Envelope.id.in_([item.envelope_id for item in claimed])
            )
        ).all()
    }
    ready, failed = [], []
    for item in claimed:
        try:
            body = template.render(metas[item.envelope_id])
        except RenderError as exc:
            code = "missing-variable" if exc.missing else "template-error"
            failed.append(
                Outcome(
                    item.text_id,
                    TextStatus.FAILED,
                    error_code=code,
                    error_detail=exc.message,
                    retry_attempts=item.retry_attempts,
                )
            )
            continue
        segments = count_segments(body).segments
        if segments > max_segments:
            failed.append(
                Outcome(
                    item.text_id,
                    TextStatus.FAILED,
                    body=body,
                    segments=segments,
                    error_code="too-many-segments",
                    error_detail=f"the text is {segments} segments; the limit is {max_segments} "
                    "(CAMPAIGN_MAX_SEGMENTS)",
                    retry_attempts=item.retry_attempts,
                )
            )
            continue
        ready.append(Ready(item, body, segments))
    return ready, failed
