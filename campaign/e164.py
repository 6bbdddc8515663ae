"""Phone numbers in, E.164 out: every number the service stores went through `to_e164`.

This is the costliest step of a bulk upload, so two shortcuts keep it fast without changing a
single answer: a number already written as NANP E.164 (`+1` and ten digits) skips the parser,
and validity is first checked against the region that last validated a number with the same
country code and leading digits (finding the region is most of `is_valid_number`'s cost). A
miss falls back to the full check, so the result is always exactly `is_valid_number`'s.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumber

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
    if _NANP_E164.fullmatch(raw):
        number = PhoneNumber(country_code=1, national_number=int(raw[2:]))
    else:
        try:
            number = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidNumber(f"{raw!r} is not a phone number ({exc._msg})") from None
    if not is_valid(number):
        raise InvalidNumber(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_NANP_E164 = re.compile(r"\+1[2-9]\d{9}")
# (country code, first three national digits) -> the region that last validated such a number.
_region_hint: dict[tuple[int, str], str] = {}


def is_valid(number: PhoneNumber) -> bool:
    """Exactly `phonenumbers.is_valid_number(number)`, usually without searching the regions."""
    key = (number.country_code, str(number.national_number)[:3])
    hint = _region_hint.get(key)
    if hint is not None and phonenumbers.is_valid_number_for_region(number, hint):
        return True
    if not phonenumbers.is_valid_number(number):
        return False
    region = phonenumbers.region_code_for_number(number)
    if region is not None:
        _region_hint[key] = region
    return True
