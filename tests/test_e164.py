"""E.164 normalisation: the shortcuts give exactly phonenumbers' answers."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from campaign.e164 import InvalidNumber, to_e164


def _reference(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _ours(raw: str, region: str) -> str | None:
    try:
        return to_e164(raw, region)
    except InvalidNumber:
        return None


def test_agrees_with_phonenumbers_on_many_numbers() -> None:
    generator = random.Random(20261123)
    prefixes = ["+1", "+1", "+1", "+44", "+33", "+49", "+61", "+91", "+52", "+1876", "+1809"]
    samples = [
        generator.choice(prefixes)
        + "".join(generator.choice("0123456789") for _ in range(generator.randint(6, 11)))
        for _ in range(20_000)
    ]
    samples += [
        "5197566220",
        "(519) 756-6220",
        "tel:+15197566220",
        "+1 519 756 6220",
        "+15551234567",
        "+10000000000",
        "+18005550100",
        "+447700900123",
    ]
    disagreements = [raw for raw in samples if _ours(raw, "US") != _reference(raw, "US")]
    assert disagreements == []
    assert sum(_reference(raw, "US") is not None for raw in samples) > 1000


@pytest.mark.parametrize("raw", ["+15197566220", "519-756-6220", "tel:+1-519-756-6220"])
def test_seed_number_forms_normalise_to_e164(raw: str) -> None:
    assert to_e164(raw, "US") == "+15197566220"


@pytest.mark.parametrize("raw", ["+1555", "hello", "+15550000000", 5197566220, "+" + "1" * 70])
def test_invalid_inputs_are_refused(raw: object) -> None:
    with pytest.raises(InvalidNumber):
        to_e164(raw, "US")
