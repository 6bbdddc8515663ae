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
from sqlalchemy import String, any_, bindparam, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError

from campaign.errors import ApiError, ApiErrors, Conflict, NotFound, PayloadTooLarge
from campaign.extensions import db
from campaign.models import (
    Account,
    Activity,
    Engagement,
    EngagementStatus,
    Envelope,
    EnvelopeStatus,
    new_ids,
    utcnow,
)
from campaign.services.envelope_input import EnvelopeInput, EnvelopeParser


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
    activities = _engagement_activities(account, valid, errors)
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
            "activity_id": activities[entry.engagement_id],
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
    return rows


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


def _engagement_activities(
    account: Account, entries: list[EnvelopeInput], errors: list[ApiError]
) -> dict[str, str | None]:
    """Map each referenced engagement to its activity id, reporting the unusable ones."""
    wanted = {entry.engagement_id for entry in entries}
    found = {
        engagement.id: (engagement.status, activity_id)
        for engagement, activity_id in db.session.execute(
            select(Engagement, Activity.id)
            .outerjoin(Activity, Activity.engagement_id == Engagement.id)
            .where(Engagement.account_id == account.id, Engagement.id.in_(wanted))
            .with_for_update(of=Engagement)
        )
    }
    for entry in entries:
        at, item = "relationships/engagement/data", entry.index
        if entry.engagement_id not in found:
            errors.append(
                NotFound(f"no engagement with id {entry.engagement_id!r}", at=at, item=item)
            )
        elif found[entry.engagement_id][0] != EngagementStatus.PENDING:
            errors.append(
                Conflict(
                    f"envelopes can be added only while the engagement is pending; it is "
                    f"{found[entry.engagement_id][0]}",
                    at=at,
                    item=item,
                )
            )
    return {engagement_id: activity for engagement_id, (_, activity) in found.items()}


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
