"""Allotting numbers to accounts (the operator's verbs) and an account's sender numbers.

An allotment says "number N belongs to account A, at most T segments/s". Over the API an account
may only create or move a sender onto a number allotted to it (403 otherwise, the same answer
whether or not another account holds it, so nothing leaks), and never set its throughput above
the allotment's cap (403, at `throughput`); a missing throughput is min(default, cap). The
database backs this with a unique number per allotment and a foreign key from each sender to its
account's allotment, so no path can give two accounts the same number.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from campaign import transaction
from campaign.e164 import InvalidNumber, to_e164
from campaign.errors import Conflict, Forbidden, InvalidAttribute
from campaign.extensions import db
from campaign.models import Account, Activity, NumberAllotment, PhoneNumber

NUMBER = "attributes/number"
THROUGHPUT = "attributes/throughput"
SENDING = (
    "this phone number sends for an engagement that is scheduled, sending or paused; "
    "cancel or finish it first"
)


def normalise_number(number: Any) -> str:
    """`number` in E.164, or an InvalidAttribute pointing at `number`."""
    try:
        return to_e164(number, current_app.config["DEFAULT_REGION"])
    except InvalidNumber as exc:
        raise InvalidAttribute(str(exc), at=NUMBER) from None


def allot_number(account: Account, number: Any, max_throughput: int | None) -> NumberAllotment:
    """Allot `number` to `account` with cap `max_throughput` (the operator's verb; no commit).

    Refused (409) when another account holds the number. Re-allotting to the same account
    changes the cap (None keeps it; a new allotment's default is CAMPAIGN_DEFAULT_THROUGHPUT),
    and a lowered cap lowers the account's sender of that number with it.
    """
    e164 = normalise_number(number)
    allotment = db.session.scalar(
        select(NumberAllotment).where(NumberAllotment.number == e164).with_for_update()
    )
    if allotment is not None and allotment.account_id != account.id:
        raise Conflict(f"{e164} is allotted to another account", at=NUMBER)
    if allotment is None:
        allotment = NumberAllotment(
            account_id=account.id,
            number=e164,
            max_throughput=max_throughput or current_app.config["DEFAULT_THROUGHPUT"],
        )
        db.session.add(allotment)
    elif max_throughput is not None:
        allotment.max_throughput = max_throughput
    db.session.flush()
    db.session.execute(
        update(PhoneNumber)
        .where(PhoneNumber.number == e164, PhoneNumber.throughput > allotment.max_throughput)
        .values(throughput=allotment.max_throughput)
        .execution_options(synchronize_session="fetch")
    )
    return allotment


def revoke_number(number: Any) -> None:
    """Take `number` back from its account, with its sender; refused while that sender sends."""
    e164 = normalise_number(number)
    allotment = db.session.scalar(select(NumberAllotment).where(NumberAllotment.number == e164))
    if allotment is None:
        raise Conflict(f"{e164} is not allotted to any account", at=NUMBER)
    sender = db.session.scalar(select(PhoneNumber.id).where(PhoneNumber.number == e164))
    if sender is not None and db.session.scalar(
        select(Activity.sends_with(Activity.phone_number_id, sender))
    ):
        raise Conflict(SENDING, at=NUMBER)
    db.session.delete(allotment)  # the sender row goes with it (ON DELETE CASCADE)


def _allotment(account_id: str, number: str) -> NumberAllotment:
    allotment = db.session.scalar(
        select(NumberAllotment).where(
            NumberAllotment.number == number, NumberAllotment.account_id == account_id
        )
    )
    if allotment is None:
        raise Forbidden(
            f"{number} is not allotted to this account; the operator allots sender numbers",
            at=NUMBER,
        )
    return allotment


def _within_cap(throughput: int, allotment: NumberAllotment) -> int:
    if throughput > allotment.max_throughput:
        raise Forbidden(
            f"the throughput of {allotment.number} may be at most {allotment.max_throughput} "
            "messages per second (the operator's cap)",
            at=THROUGHPUT,
        )
    return throughput


def _check_unique(account_id: str, number: str, exclude_id: str | None = None) -> None:
    statement = select(PhoneNumber.id).where(
        PhoneNumber.account_id == account_id, PhoneNumber.number == number
    )
    if exclude_id:
        statement = statement.where(PhoneNumber.id != exclude_id)
    if db.session.scalar(statement) is not None:
        raise Conflict(f"{number} is already one of this account's phone numbers", at=NUMBER)


def _write_or_conflict(account_id: str, number: str, exclude_id: str | None = None) -> None:
    """Write the sender now; a constraint that a concurrent request won is the error its check
    would give."""
    try:
        db.session.flush()
    except IntegrityError:
        # The request fails either way: its transaction ends here, so the checks read what the
        # concurrent request committed (a savepoint would keep it, but not on pysqlite).
        transaction.rollback()
        _allotment(account_id, number)
        _check_unique(account_id, number, exclude_id)
        raise Conflict(
            f"{number} changed in a concurrent request; read it and retry",
            at=NUMBER,
        ) from None


def create_phone_number(
    account: Account, number: Any, *, name: str | None = None, throughput: int | None = None
) -> PhoneNumber:
    """Add a sender for a number allotted to the account (E.164, unique)."""
    e164 = normalise_number(number)
    allotment = _allotment(account.id, e164)
    if throughput is None:
        throughput = min(current_app.config["DEFAULT_THROUGHPUT"], allotment.max_throughput)
    _within_cap(throughput, allotment)
    _check_unique(account.id, e164)
    phone = PhoneNumber(account_id=account.id, number=e164, name=name, throughput=throughput)
    db.session.add(phone)
    _write_or_conflict(account.id, e164)
    return phone


def update_phone_number(phone: PhoneNumber, changes: dict[str, Any]) -> PhoneNumber:
    """Change name, throughput or the number itself (within the allotments).

    The number cannot change while an engagement that uses the sender may still send (409, as
    for DELETE): its texts were dispatched from the old number. A new number with a lower cap
    lowers the throughput to that cap.
    """
    number = phone.number
    if "number" in changes:
        number = normalise_number(changes.pop("number"))
    allotment = _allotment(phone.account_id, number)
    if number != phone.number:
        if db.session.scalar(select(Activity.sends_with(Activity.phone_number_id, phone.id))):
            raise Conflict(SENDING, at=NUMBER)
        _check_unique(phone.account_id, number, exclude_id=phone.id)
        phone.number = number
        phone.throughput = min(phone.throughput, allotment.max_throughput)
    if "throughput" in changes:
        _within_cap(changes["throughput"], allotment)
    for name, value in changes.items():
        setattr(phone, name, value)
    _write_or_conflict(phone.account_id, number, exclude_id=phone.id)
    return phone


def delete_phone_number(phone: PhoneNumber) -> None:
    """Delete a sender, unless an engagement that uses it may still send."""
    if db.session.scalar(select(Activity.sends_with(Activity.phone_number_id, phone.id))):
        raise Conflict(SENDING, at="")
    db.session.delete(phone)
