"""Creating envelopes in bulk (all or nothing), and changing or deleting one before sending.

A number appears at most once per engagement: a repeat inside an upload, or of an envelope the
engagement already has, is rejected with a pointer rather than silently merged, so the caller
learns that its list had duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from flask import current_app
from sqlalchemy import String, any_, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from campaign.errors import ApiError, ApiErrors, Conflict, NotFound, PayloadTooLarge
from campaign.extensions import db
from campaign.models import (
    Account,
    Engagement,
    EngagementStatus,
    Envelope,
    EnvelopeStatus,
    new_ids,
    utcnow,
)
from campaign.models.engagement import ACTIVE_STATUSES
from campaign.models.run_steps import Run, activities_of, start
from campaign.services.envelope_input import EnvelopeInput, EnvelopeParser
from campaign.workers.runs import settings as run_settings
from campaign.workers.runs import wake


def envelope_parser() -> EnvelopeParser:
    config = current_app.config
    return EnvelopeParser(region=config["DEFAULT_REGION"], max_meta_bytes=config["MAX_META_BYTES"])


def create_envelopes(account: Account, items: Sequence[Any]) -> list[dict[str, Any]]:
    """Validate every entry, then insert them all at once; the rows written.

    Nothing is written unless every entry is valid; all problems are reported at once, each
    with the index of its entry (`item`).
    """
    limit = current_app.config["MAX_BULK"]
    if len(items) > limit:
        raise PayloadTooLarge(
            f"{len(items)} envelopes in one request; the limit is {limit} (CAMPAIGN_MAX_BULK), "
            "so split the upload",
            at="",
        )
    if not items:
        raise ApiErrors([ApiError("the data array is empty", at="")])
    parser = envelope_parser()
    errors: list[ApiError] = []
    entries = [parser.parse(item, index, errors) for index, item in enumerate(items)]
    valid = [entry for entry in entries if entry is not None]
    engagements = _engagements(account, valid, errors)
    _check_expected_inputs(valid, engagements, errors)
    _check_duplicates(valid, errors)
    if errors:
        raise ApiErrors(errors)
    now = utcnow()
    ids = new_ids(len(valid))
    rows = [
        {
            "id": id_,
            "account_id": account.id,
            "engagement_id": entry.engagement_id,
            "activity_id": engagements[entry.engagement_id].activity_id,
            "phone_number": entry.phone_number,
            "meta": entry.meta,
            "status": EnvelopeStatus.PENDING.value,
            "retry_attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for id_, entry in zip(ids, valid, strict=True)
    ]
    try:
        _insert(rows)
    except (IntegrityError, psycopg.errors.IntegrityError):
        raise Conflict(
            "another request added one of these numbers to the engagement at the "
            "same time; nothing was stored, retry the upload",
            at="",
        ) from None
    _start_runs(rows, engagements, now)
    return rows


def _start_runs(rows: list[dict[str, Any]], engagements: dict[str, Engagement], now: Any) -> None:
    """Envelopes POSTed to a triggered engagement that sends start their runs now, in this
    request's transaction; their first step is woken once it commits (the Inbound API)."""
    for engagement_id, engagement in engagements.items():
        if not engagement.is_triggered or engagement.status not in ACTIVE_STATUSES:
            continue
        entry = activities_of([engagement.activity_id or ""]).get(engagement.activity_id or "")
        if entry is None:
            continue
        mine = [row for row in rows if row["engagement_id"] == engagement_id]
        runs = [
            Run(row["id"], engagement_id, row["account_id"], row["phone_number"], None, 0,
                row["meta"], {}, [], row["status"])
            for row in mine
        ]  # fmt: skip
        for row in mine:
            row["scheduled_at"] = now
        db.session.execute(
            update(Envelope)
            .where(Envelope.id.in_([row["id"] for row in mine]))
            .values(scheduled_at=now)
        )
        wake(start(runs, entry, now, run_settings(current_app.config)))
        for row, run in zip(mine, runs, strict=True):
            row.update(activity_id=run.activity_id, step=run.step, status=run.status,
                       exit_type=run.exit_type, values=run.values, path=run.path)  # fmt: skip


def _insert(rows: list[dict[str, Any]]) -> None:
    """Postgres gets the rows through COPY, several times faster than a multi-row INSERT."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        db.session.execute(insert(Envelope), rows)
        return
    columns = list(rows[0])
    meta = columns.index("meta")
    driver = connection.connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY envelopes ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            values = list(row.values())
            values[meta] = orjson.dumps(values[meta]).decode()
            copy.write_row(values)


# Runs can start on a triggered engagement until it ends; on others only while pending.
_OPEN_TO_TRIGGERED = ACTIVE_STATUSES | {EngagementStatus.PAUSED, EngagementStatus.PENDING}


def _engagements(
    account: Account, entries: list[EnvelopeInput], errors: list[ApiError]
) -> dict[str, Engagement]:
    """The engagements the entries name (locked), reporting the unusable ones."""
    wanted = {entry.engagement_id for entry in entries}
    found = {
        engagement.id: engagement
        for engagement in db.session.scalars(
            select(Engagement)
            .where(Engagement.account_id == account.id, Engagement.id.in_(wanted))
            .with_for_update()
        )
    }
    for entry in entries:
        at, item = "relationships/engagement/data", entry.index
        engagement = found.get(entry.engagement_id)
        if engagement is None:
            errors.append(
                NotFound(f"no engagement with id {entry.engagement_id!r}", at=at, item=item)
            )
        elif engagement.is_triggered and engagement.status not in _OPEN_TO_TRIGGERED:
            errors.append(
                Conflict(
                    f"the triggered engagement is {engagement.status}; runs start only "
                    "until it is completed or cancelled",
                    at=at,
                    item=item,
                )
            )
        elif not engagement.is_triggered and engagement.status != EngagementStatus.PENDING:
            errors.append(
                Conflict(
                    f"envelopes can be added only while the engagement is pending; it is "
                    f"{engagement.status} (a triggered engagement takes them while it sends)",
                    at=at,
                    item=item,
                )
            )
    return found


def _check_expected_inputs(
    entries: list[EnvelopeInput], engagements: dict[str, Engagement], errors: list[ApiError]
) -> None:
    """Every name in the engagement's `expected-inputs` must be in the envelope's meta, exact
    case (`OrderNo` is not `orderno`); extra keys are fine."""
    for entry in entries:
        engagement = engagements.get(entry.engagement_id)
        if engagement is None:
            continue
        missing = [name for name in engagement.expected_inputs or () if name not in entry.meta]
        if missing:
            errors.append(
                ApiError(
                    "meta lacks the engagement's expected inputs "
                    + ", ".join(repr(name) for name in missing)
                    + " (names match exactly, case included)",
                    at="attributes/meta",
                    item=entry.index,
                    title="Missing expected inputs",
                )
            )


def _check_duplicates(entries: list[EnvelopeInput], errors: list[ApiError]) -> None:
    """A number may appear once per engagement: within this upload and among stored envelopes."""
    first_seen: dict[tuple[str, str], EnvelopeInput] = {}
    by_engagement: dict[str, list[str]] = {}
    for entry in entries:
        key = (entry.engagement_id, entry.phone_number)
        if key in first_seen:
            errors.append(
                Conflict(
                    f"{entry.phone_number} appears twice for this engagement (first as "
                    f"entry {first_seen[key].index})",
                    at="attributes/phone-number",
                    item=entry.index,
                )
            )
            continue
        first_seen[key] = entry
        by_engagement.setdefault(entry.engagement_id, []).append(entry.phone_number)
    postgres = db.session.get_bind().dialect.name == "postgresql"
    for engagement_id, numbers in by_engagement.items():
        # One array parameter on Postgres rather than ten thousand bound values.
        among = (
            Envelope.phone_number == any_(bindparam("numbers", numbers, type_=ARRAY(String)))
            if postgres
            else Envelope.phone_number.in_(numbers)
        )
        stored = set(
            db.session.scalars(
                select(Envelope.phone_number).where(Envelope.engagement_id == engagement_id, among)
            )
        )
        for number in stored:
            entry = first_seen[(engagement_id, number)]
            errors.append(
                Conflict(
                    f"{number} is already an envelope of this engagement",
                    at="attributes/phone-number",
                    item=entry.index,
                )
            )


def update_envelope(envelope: Envelope, item: Any) -> Envelope:
    """Change the number or meta of an envelope whose engagement is still pending."""
    errors: list[ApiError] = []
    entry = envelope_parser().parse(item, 0, errors, partial=True)
    if errors or entry is None:
        raise ApiErrors(errors)
    _check_pending(envelope)
    attributes = item.get("attributes", {})
    if "phone-number" in attributes and entry.phone_number != envelope.phone_number:
        taken = db.session.scalar(
            select(Envelope.id).where(
                Envelope.engagement_id == envelope.engagement_id,
                Envelope.phone_number == entry.phone_number,
            )
        )
        if taken:
            raise Conflict(
                f"{entry.phone_number} is already an envelope of this engagement",
                at="attributes/phone-number",
            )
        envelope.phone_number = entry.phone_number
    if "meta" in attributes:
        envelope.meta = entry.meta
    return envelope


def _check_pending(envelope: Envelope) -> None:
    status = db.session.scalar(
        select(Engagement.status).where(Engagement.id == envelope.engagement_id)
    )
    if status != EngagementStatus.PENDING:
        raise Conflict(
            f"the engagement is {status}; envelopes change only while it is pending",
            at="",
        )


def delete_envelope(envelope: Envelope) -> None:
    """Remove a recipient from an engagement that has not been scheduled."""
    _check_pending(envelope)
    db.session.delete(envelope)
