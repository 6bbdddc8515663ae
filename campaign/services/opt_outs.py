"""Opting numbers out of an account (one or a whole suppression list) and back in.

Opt-outs written here come from the account's API (`source: api`); keywords and carriers record
theirs elsewhere, and all of them share the table's one row per (account, number).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from campaign.e164 import InvalidNumber, to_e164
from campaign.errors import ApiError, ApiErrors, InvalidAttribute, PayloadTooLarge
from campaign.extensions import db
from campaign.models import Account, OptOut, OptOutSource, new_ids, utcnow
from campaign.models.base import insert_new

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
    now = utcnow()
    rows = [
        {
            "id": id_,
            "account_id": account.id,
            "phone_number": number,
            "source": OptOutSource.API.value,
            "created_at": now,
            "updated_at": now,
        }
        for id_, number in zip(new_ids(len(numbers)), numbers, strict=True)
    ]
    insert_new(OptOut, rows, unique=["account_id", "phone_number"])
    on_file = _on_file(account.id, list(numbers))
    ours = {row["id"] for row in rows}
    return OptOutImport(
        [on_file[number] for number in numbers],
        frozenset(opt_out.id for opt_out in on_file.values() if opt_out.id in ours),
    )


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
    db.session.delete(opt_out)
