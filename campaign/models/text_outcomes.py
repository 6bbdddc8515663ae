"""Recording what happened to texts, in bulk, and keeping their envelopes in step.

Every writer (send jobs, carrier callbacks, the sweep, cancellation) goes through here, so the
rule that a status never moves backwards lives in one place: updates are conditional on the
statuses a text may leave (`statuses_before`), and a repeated or late report changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, func, update

from campaign.extensions import db
from campaign.models.envelope import Envelope, EnvelopeStatus
from campaign.models.text import ENVELOPE_STATUS, Text, TextStatus, statuses_before

_FINAL_ENVELOPE = [
    EnvelopeStatus.COMPLETED.value,
    EnvelopeStatus.FAILED.value,
    EnvelopeStatus.CANCELLED.value,
]


@dataclass(frozen=True)
class Outcome:
    """What a send attempt produced for one claimed text."""

    text_id: str
    envelope_id: str
    status: TextStatus
    body: str | None = None
    segments: int | None = None
    provider_message_id: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    retry_attempts: int = 0
    next_attempt_at: datetime | None = None


def record_outcomes(outcomes: Sequence[Outcome], now: datetime) -> None:
    """Store send results of texts this worker claimed (status `sending`), then sync envelopes.

    A callback may have overtaken the send's own record (the carrier reported `delivered`
    before we wrote `sent`); then the status stays where the callback put it and only the
    details (body, message id, sent-at) are filled in.
    """
    if not outcomes:
        return
    rows = [
        {
            "b_id": outcome.text_id,
            "b_status": outcome.status.value,
            "b_body": outcome.body,
            "b_segments": outcome.segments,
            "b_message_id": outcome.provider_message_id,
            "b_error_code": outcome.error_code,
            "b_error_detail": outcome.error_detail,
            "b_attempts": outcome.retry_attempts,
            "b_next_attempt": outcome.next_attempt_at,
            "b_sent_at": now if outcome.status == TextStatus.SENT else None,
        }
        for outcome in outcomes
    ]
    claimed = Text.status == TextStatus.SENDING.value
    statement = (
        update(Text)
        .where(Text.id == bindparam("b_id"))
        .values(
            status=case((claimed, bindparam("b_status")), else_=Text.status),
            body=bindparam("b_body"),
            segments=bindparam("b_segments"),
            provider_message_id=func.coalesce(bindparam("b_message_id"), Text.provider_message_id),
            # The last attempt's error, unless a callback already reported one.
            error_code=case(
                (claimed, bindparam("b_error_code")),
                else_=func.coalesce(Text.error_code, bindparam("b_error_code")),
            ),
            error_detail=case(
                (claimed, bindparam("b_error_detail")),
                else_=func.coalesce(Text.error_detail, bindparam("b_error_detail")),
            ),
            retry_attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next_attempt"),
            sent_at=func.coalesce(Text.sent_at, bindparam("b_sent_at")),
            claimed_at=None,
            updated_at=now,
        )
    )
    db.session.connection().execute(statement, rows)
    sync_envelopes([outcome.envelope_id for outcome in outcomes], now)


def advance_status(
    text_id: str,
    status: TextStatus,
    now: datetime,
    *,
    error_code: str | None = None,
    error_detail: str | None = None,
) -> bool:
    """Move one text forward to `status` (a carrier's report); False when it was already past."""
    values: dict[str, object] = {"status": status.value, "updated_at": now}
    if status == TextStatus.DELIVERED:
        values["delivered_at"] = now
    if error_code is not None:
        values["error_code"] = error_code
    if error_detail is not None:
        values["error_detail"] = error_detail
    envelope_id = db.session.execute(
        update(Text)
        .where(Text.id == text_id, Text.status.in_(statuses_before(status)))
        .values(**values)
        .returning(Text.envelope_id)
        .execution_options(synchronize_session=False)
    ).scalar()
    if envelope_id is None:
        return False
    sync_envelopes([envelope_id], now)
    return True


def sync_envelopes(envelope_ids: Iterable[str], now: datetime) -> None:
    """Set each envelope's status (and retry count, completion time) from its text's."""
    ids = list(dict.fromkeys(envelope_ids))
    if not ids:
        return
    status = case(
        {text.value: envelope.value for text, envelope in ENVELOPE_STATUS.items()},
        value=Text.status,
        else_=Envelope.status,
    )
    db.session.execute(
        update(Envelope)
        .where(Envelope.id == Text.envelope_id, Envelope.id.in_(ids))
        .values(
            status=status,
            retry_attempts=Text.retry_attempts,
            completed_at=case(
                (status.in_(_FINAL_ENVELOPE), func.coalesce(Envelope.completed_at, now)), else_=None
            ),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
