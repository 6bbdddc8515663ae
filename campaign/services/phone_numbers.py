"""Creating, changing and deleting an account's sender numbers."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from campaign.e164 import InvalidNumber, to_e164
from campaign.errors import Conflict, InvalidAttribute
from campaign.extensions import db
from campaign.models import Account, Activity, PhoneNumber

NUMBER_POINTER = "/data/attributes/number"


def _normalise(number: Any) -> str:
    try:
        return to_e164(number, current_app.config["DEFAULT_REGION"])
    except InvalidNumber as exc:
        raise InvalidAttribute(str(exc), pointer=NUMBER_POINTER) from None


def _check_unique(account_id: str, number: str, exclude_id: str | None = None) -> None:
    statement = select(PhoneNumber.id).where(
        PhoneNumber.account_id == account_id, PhoneNumber.number == number
    )
    if exclude_id:
        statement = statement.where(PhoneNumber.id != exclude_id)
    if db.session.scalar(statement) is not None:
        raise Conflict(
            f"{number} is already one of this account's phone numbers", pointer=NUMBER_POINTER
        )


def create_phone_number(
    account: Account, number: Any, *, name: str | None = None, throughput: int | None = None
) -> PhoneNumber:
    """Add a sender number (E.164, unique per account) and commit."""
    e164 = _normalise(number)
    _check_unique(account.id, e164)
    phone = PhoneNumber(
        account_id=account.id,
        number=e164,
        name=name,
        throughput=throughput or current_app.config["DEFAULT_THROUGHPUT"],
    )
    db.session.add(phone)
    db.session.commit()
    return phone


def update_phone_number(phone: PhoneNumber, changes: dict[str, Any]) -> PhoneNumber:
    """Change name, throughput or the number itself, and commit."""
    if "number" in changes:
        e164 = _normalise(changes.pop("number"))
        _check_unique(phone.account_id, e164, exclude_id=phone.id)
        phone.number = e164
    for name, value in changes.items():
        setattr(phone, name, value)
    db.session.commit()
    return phone


def delete_phone_number(phone: PhoneNumber) -> None:
    """Delete a sender, unless an engagement that uses it may still send."""
    if db.session.scalar(select(Activity.sends_with(Activity.phone_number_id, phone.id))):
        raise Conflict(
            "this phone number sends for an engagement that is scheduled, sending or paused; "
            "cancel or finish it first",
            pointer="/data",
        )
    db.session.delete(phone)
    db.session.commit()
