"""Phone numbers in, E.164 out: every number the service stores went through `to_e164`."""

from __future__ import annotations

import phonenumbers

# Longest E.164 number is 15 digits plus '+'; anything far longer is not worth parsing.
_MAX_INPUT_LENGTH = 64


class InvalidNumber(ValueError):
    """Not a phone number that could receive a text; the message says why."""


def to_e164(raw: object, region: str) -> str:
    """Parse any form phonenumbers understands (`+1 519-756-6220`, `tel:+1...`, a national number
    in `region`) and return it in E.164, or raise InvalidNumber."""
    if not isinstance(raw, str):
        raise InvalidNumber("a phone number must be a string")
    if len(raw) > _MAX_INPUT_LENGTH:
        raise InvalidNumber("too long to be a phone number")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{raw!r} is not a phone number ({exc._msg})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
