"""Recording what happened to texts, in bulk, and keeping their envelopes in step.

Every writer (send jobs, receipts, the sweep, cancellation) goes through here, so the
rule that a status never moves backwards lives in one place: updates are conditional on the
statuses a text may leave (`statuses_before`), and a repeated or late report changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Update,
    bindparam,
    case,
    cast,
    column,
    func,
    literal,
    literal_column,
    update,
)
from sqlalchemy import Text as TextColumn
from sqlalchemy.dialects.postgresql import ARRAY

from campaign.extensions import db
from campaign.flows.steps import Event
from campaign.models.base import UTCDateTime
from campaign.models.envelope import Envelope, EnvelopeStatus
from campaign.models.text import (
    ENVELOPE_STATUS,
    EVENT,
    EXIT_TYPE,
    Text,
    TextStatus,
    statuses_before,
)
from campaign.providers import fields

_FINAL_ENVELOPE = [
    EnvelopeStatus.COMPLETED.value,
    EnvelopeStatus.FAILED.value,
    EnvelopeStatus.CANCELLED.value,
]


@dataclass(frozen=True)
class Outcome:
    """What a send attempt produced for one claimed text."""

    text_id: str
    status: TextStatus
    body: str | None = None
    segments: int | None = None
    provider_message_id: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    retry_attempts: int = 0
    next_attempt_at: datetime | None = None
    # When the carrier took it (a sent text); the round's `now` when not known.
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Moved:
    """A text whose record took: it now has the status its outcome says."""

    text_id: str
    envelope_id: str
    status: TextStatus
    activity_id: str = ""
    step: int = 1


def record_outcomes(outcomes: Sequence[Outcome], now: datetime) -> list[Moved]:
    """Store send results of texts this worker claimed (status `sending`), then sync envelopes.

    A receipt may have overtaken the send's own record (the carrier reported `delivered`
    before we wrote `sent`); then the status stays where the receipt put it and only the
    details (body, message id, sent-at) are filled in.

    On Postgres the whole round is one statement over arrays (`UPDATE ... FROM unnest(...)`):
    a statement per text costs the database and the driver several times more per row. SQLite,
    the embedded default, has no arrays and takes one statement per text.

    Carrier-supplied fields are bounded here, the one way they reach a text, so no single
    over-long value can fail the statement that stores the whole round.

    Returns the texts that moved to their outcome's status (not those a report overtook),
    for what follows a text's fate: runs, webhooks.
    """
    if not outcomes:
        return []
    outcomes = [_bounded(outcome) for outcome in outcomes]
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        columns = {name: [getattr(o, name) for o in outcomes] for name in _COPIED}
        columns["status"] = [o.status.value for o in outcomes]
        columns["sent_at"] = [_sent_at(o, now) for o in outcomes]
        stored = connection.execute(_ARRAY_UPDATE, {"now": now, **columns}).all()
    else:
        # SQLite cannot return rows from an executemany: one statement per text, as before.
        stored = []
        for o in outcomes:
            row = {
                **{name: getattr(o, name) for name in _COPIED},
                "status": o.status.value,
                "sent_at": _sent_at(o, now),
                "now": now,
            }
            stored.extend(connection.execute(_ROW_UPDATE, row).all())
    wanted = {outcome.text_id: outcome.status.value for outcome in outcomes}
    moved = [
        Moved(text_id, envelope_id, TextStatus(status), activity_id, step)
        for text_id, envelope_id, status, activity_id, step in stored
        if wanted[text_id] == status
    ]
    # Only texts that moved: one a receipt overtook has had its envelope synced by the receipt,
    # and syncing it again would record the receipt's event in the run's path twice.
    sync_envelopes([item.text_id for item in moved], now)
    return moved


def _sent_at(outcome: Outcome, now: datetime) -> datetime | None:
    if outcome.status != TextStatus.SENT:
        return None
    return outcome.sent_at or now


def _bounded(outcome: Outcome) -> Outcome:
    """The outcome with an unusable message id dropped and its error code and detail capped."""
    return replace(
        outcome,
        provider_message_id=fields.message_id(outcome.provider_message_id),
        error_code=_code(outcome.error_code),
        error_detail=_detail(outcome.error_detail),
    )


def _code(code: str | None) -> str | None:
    return None if code is None else fields.error_code(code, fallback=INVALID_ERROR_CODE)


def _detail(detail: str | None) -> str | None:
    return None if detail is None else fields.error_detail(detail)


# The statuses of a text the carrier may have: what its reports may move.
_WITH_CARRIER = frozenset(
    {TextStatus.SENDING.value, TextStatus.SENT.value, TextStatus.UNKNOWN.value}
)

# Stored instead of an error code that is too long or not visible ASCII.
INVALID_ERROR_CODE = "invalid-carrier-code"

# The values each text is updated from: Outcome's fields, the status as its word, and `sent_at`
# derived from the status.
_TYPES: dict[str, Any] = {
    "text_id": String(),
    "status": String(),
    "body": TextColumn(),
    "segments": Integer(),
    "provider_message_id": String(),
    "error_code": String(),
    "error_detail": TextColumn(),
    "retry_attempts": Integer(),
    "next_attempt_at": UTCDateTime(),
    "sent_at": UTCDateTime(),
}
_COPIED = [name for name in _TYPES if name not in ("status", "sent_at")]


def _update(source: Mapping[str, ColumnElement[Any]]) -> Update:
    """The conditional update of one text from `source` (bound values or unnested columns)."""
    claimed = Text.status == TextStatus.SENDING.value
    return (
        update(Text)
        .where(Text.id == source["text_id"])
        .values(
            status=case((claimed, source["status"]), else_=Text.status),
            body=source["body"],
            segments=source["segments"],
            provider_message_id=func.coalesce(
                source["provider_message_id"], Text.provider_message_id
            ),
            # The last attempt's error, unless a receipt already reported one.
            error_code=case(
                (claimed, source["error_code"]),
                else_=func.coalesce(Text.error_code, source["error_code"]),
            ),
            error_detail=case(
                (claimed, source["error_detail"]),
                else_=func.coalesce(Text.error_detail, source["error_detail"]),
            ),
            retry_attempts=source["retry_attempts"],
            next_attempt_at=source["next_attempt_at"],
            sent_at=func.coalesce(Text.sent_at, source["sent_at"]),
            claimed_at=None,
            updated_at=bindparam("now", type_=UTCDateTime()),
        )
        .returning(Text.id, Text.envelope_id, Text.status, Text.activity_id, Text.step)
    )


_ROW_UPDATE = _update({name: bindparam(name, type_=type_) for name, type_ in _TYPES.items()})
_UNNESTED = (
    func.unnest(*(bindparam(name, type_=ARRAY(type_)) for name, type_ in _TYPES.items()))
    .table_valued(*(column(name, type_) for name, type_ in _TYPES.items()))
    .render_derived(name="outcome")
)
_ARRAY_UPDATE = _update({name: _UNNESTED.c[name] for name in _TYPES})


def advance_status(
    text_id: str,
    status: TextStatus,
    now: datetime,
    *,
    error_code: str | None = None,
    error_detail: str | None = None,
) -> Moved | None:
    """Move one text forward to `status` (a carrier's report); None when it was already past.

    Only a text in the carrier's hands moves: one it may have been sent (`sending`, its record
    overtaken by the report), `sent` or `unknown`. A report on a text still queued, or already
    settled or cancelled, cannot be the carrier's and changes nothing.
    """
    values: dict[str, object] = {"status": status.value, "updated_at": now}
    if status == TextStatus.DELIVERED:
        values["delivered_at"] = now
    if error_code is not None:
        values["error_code"] = _code(error_code)
    if error_detail is not None:
        values["error_detail"] = _detail(error_detail)
    moved = db.session.execute(
        update(Text)
        .where(
            Text.id == text_id,
            Text.status.in_([s for s in statuses_before(status) if s in _WITH_CARRIER]),
        )
        .values(**values)
        .returning(Text.id, Text.envelope_id, Text.status, Text.activity_id, Text.step)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:
        return None
    sync_envelopes([text_id], now)
    return Moved(moved[0], moved[1], TextStatus(moved[2]), moved[3], moved[4])


def sync_envelopes(text_ids: Iterable[str], now: datetime) -> None:
    """Set the envelope of each text to follow the text's status, retry count and completion,
    while its run is at that text's step, and record the text's event in the run's path.

    This settles a run whose step is its last (a one-text engagement's every run) in the same
    statement as today's sync: its exit type follows the text (completed once sent, failed when
    it failed, cancelled), and a later receipt still moves it. Where a trigger leads on,
    `run_steps.follow_texts` then takes the run to its next step in the same transaction.

    The texts are found by their primary key and their envelopes by theirs: matching texts by
    `envelope_id` instead lets the planner, with statistics a fast-growing table has not caught
    up with, scan every text of the table for each round (seen at a million texts).
    """
    ids = list(dict.fromkeys(text_ids))
    if not ids:
        return
    status = case(
        {text.value: envelope.value for text, envelope in ENVELOPE_STATUS.items()},
        value=Text.status,
        else_=Envelope.status,
    )
    exit_type = case(
        {text.value: exit.value for text, exit in EXIT_TYPE.items()}, value=Text.status
    )
    event = case({text.value: event.value for text, event in EVENT.items()}, value=Text.status)
    failed = Text.status.in_([s.value for s in _FAILED_TEXT])
    reason = case((failed, func.coalesce(Text.error_detail, Text.error_code, Text.status)))
    members = {
        "activity": Text.activity_id,
        "step": Text.step,
        "event": event,
        # Typed, so Postgres can tell what jsonb_build_object is given.
        "at": cast(literal(now.isoformat()), String),
        "reason": reason,
    }
    pairs = [part for key, value in members.items() for part in (literal_column(f"'{key}'"), value)]
    if db.session.get_bind().dialect.name == "postgresql":
        appended = Envelope.path.op("||")(func.jsonb_build_array(func.jsonb_build_object(*pairs)))
    else:
        appended = func.json_insert(Envelope.path, "$[#]", func.json(func.json_object(*pairs)))
    db.session.execute(
        update(Envelope)
        .where(Text.id.in_(ids), Envelope.id == Text.envelope_id, Envelope.step == Text.step)
        .values(
            status=status,
            exit_type=exit_type,
            path=case((event.is_(None), Envelope.path), else_=appended),
            retry_attempts=Text.retry_attempts,
            completed_at=case(
                (status.in_(_FINAL_ENVELOPE), func.coalesce(Envelope.completed_at, now)), else_=None
            ),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )


# Texts whose event is a failure: their path entry carries the reason.
_FAILED_TEXT = frozenset(
    status
    for status, event in EVENT.items()
    if event in (Event.TEXT_FAILED, Event.TEXT_UNDELIVERED)
)
