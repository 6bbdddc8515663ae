"""Opting numbers out of an account (one or a whole suppression list) and back in.

Every opt-out is written through `record_opt_outs`, whatever its source (the account's API, a
recipient's STOP, the carrier's refusal): it marks the numbers in Redis first, so a send round
already holding a text to one of them does not hand it to the carrier (workers/stops.py), then
inserts the rows, one per (account, number).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from flask import current_app
from sqlalchemy import delete, select

from campaign import transaction
from campaign.e164 import InvalidNumber, to_e164
from campaign.errors import ApiError, ApiErrors, InvalidAttribute, PayloadTooLarge
from campaign.extensions import db, redis_store
from campaign.models import Account, OptOut, OptOutSource
from campaign.models.opt_out import insert_opt_outs
from campaign.workers.stops import clear_opted_out, mark_opted_out

log = logging.getLogger(__name__)

PHONE_NUMBER = "attributes/phone-number"
# Rows per statement when reading the opt-outs back (well under every driver's bind limit).
_CHUNK = 1000


@dataclass(frozen=True)
class OptOutImport:
    """The opt-outs on file for the numbers asked for, and the ids of those this call added."""

    opt_outs: list[OptOut]
    created: frozenset[str]


def create_opt_outs(account: Account, items: Sequence[Mapping[str, Any]]) -> OptOutImport:
    """Opt out each item's `phone-number` (its attributes, as the client sent them).

    All or none: every number is normalised to E.164 first, and one that is missing or invalid
    is an error at its item's `attributes/phone-number`, all reported at once, nothing written.
    Idempotent: a number already opted out (or repeated in `items`) is not an error; its opt-out
    is kept as it is (the first source and moment win) and returned like a new one, so importing
    a suppression list again changes nothing. The answer holds each number's opt-out once, in
    the order the numbers first appear; a concurrent import of the same number cannot fail
    (the insert skips rows the unique index already holds).
    """
    limit = current_app.config["MAX_BULK"]
    if len(items) > limit:
        raise PayloadTooLarge(
            f"{len(items)} opt-outs in one request; the limit is {limit} (CAMPAIGN_MAX_BULK), "
            "so split the import",
            at="",
        )
    if not items:
        raise ApiErrors([ApiError("the data array is empty", at="")])
    region = current_app.config["DEFAULT_REGION"]
    errors: list[ApiError] = []
    numbers: dict[str, None] = {}  # first appearance order
    for index, attributes in enumerate(items):
        if "phone-number" not in attributes:
            errors.append(InvalidAttribute("phone-number is required", at=PHONE_NUMBER, item=index))
            continue
        try:
            numbers[to_e164(attributes["phone-number"], region)] = None
        except InvalidNumber as exc:
            errors.append(InvalidAttribute(str(exc), at=PHONE_NUMBER, item=index))
    if errors:
        raise ApiErrors(errors)
    ours = record_opt_outs(account.id, list(numbers), OptOutSource.API)
    on_file = _on_file(account.id, list(numbers))
    return OptOutImport(
        [on_file[number] for number in numbers],
        frozenset(opt_out.id for opt_out in on_file.values() if opt_out.id in ours),
    )


def record_opt_outs(account_id: str, numbers: Sequence[str], source: OptOutSource) -> set[str]:
    """Opt these E.164 numbers out of the account; the ids of the rows this call added (a
    number already on file keeps its first opt-out).

    The Redis marks come first and are never taken back: a mark whose rows are rolled back
    only holds the number's texts in the queue for CAMPAIGN_STUCK_AFTER. With Redis down the
    opt-outs are still stored (an accepted STOP is never lost) and every later round's claim
    finds them; only a round already holding a text to the number may still send it.
    """
    if not numbers:
        return set()
    try:
        mark_opted_out(
            redis_store.connection, account_id, numbers, ttl=current_app.config["STUCK_AFTER"]
        )
    except redis.RedisError:
        log.warning("could not mark %d opt-outs in Redis", len(numbers), exc_info=True)
    return insert_opt_outs(account_id, numbers, source)


def opt_in(account_id: str, number: str) -> bool:
    """Take the number's opt-out off the account's file; False when there was none. Its Redis
    mark (if a recent opt-out left one) goes once the change is committed."""
    removed = db.session.execute(
        delete(OptOut).where(OptOut.account_id == account_id, OptOut.phone_number == number)
    ).rowcount
    if removed:
        transaction.after_commit(
            lambda: clear_opted_out(redis_store.connection, account_id, number)
        )
    return bool(removed)


def _on_file(account_id: str, numbers: list[str]) -> dict[str, OptOut]:
    found: dict[str, OptOut] = {}
    for start in range(0, len(numbers), _CHUNK):
        statement = select(OptOut).where(
            OptOut.account_id == account_id,
            OptOut.phone_number.in_(numbers[start : start + _CHUNK]),
        )
        found.update((row.phone_number, row) for row in db.session.scalars(statement))
    return found


def delete_opt_out(opt_out: OptOut) -> None:
    """Opt the number back in: the account may text it again."""
    opt_in(opt_out.account_id, opt_out.phone_number)
