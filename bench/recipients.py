"""Realistic, distinct North American recipients: valid E.164 numbers and template `meta`.

Numbers are drawn without repetition from real area codes and ordinary exchanges, so every one
passes phonenumbers' validation; a seeded generator makes a run repeatable.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import phonenumbers

# Ontario, Quebec, the Prairies and BC, and a few large US cities.
AREA_CODES = (
    519,
    226,
    548,
    416,
    647,
    437,
    905,
    289,
    613,
    343,
    604,
    778,
    514,
    438,
    403,
    587,
    212,
    646,
    718,
    917,
    415,
    628,
    312,
    773,
    617,
    857,
    206,
    713,
    305,
    404,
)
# Ordinary exchanges: not N11 service codes, not the fictional 555, not the 950/958/959/976 ones.
EXCHANGES = tuple(
    nxx for nxx in range(200, 1000) if nxx % 100 != 11 and nxx not in (555, 950, 958, 959, 976)
)
LINES = 10_000
CAPACITY = len(AREA_CODES) * len(EXCHANGES) * LINES

FIRST_NAMES = (
    "Alexander",
    "Michael",
    "Olivia",
    "Emma",
    "Liam",
    "Noah",
    "Ava",
    "Sophia",
    "Lucas",
    "Mia",
    "Ethan",
    "Chloe",
    "Benjamin",
    "Zoe",
    "Jacob",
    "Amelia",
)
LAST_NAMES = (
    "Bell",
    "Morgan",
    "Tremblay",
    "Smith",
    "Roy",
    "Wilson",
    "Gagnon",
    "Brown",
    "Martin",
    "Lee",
    "Taylor",
    "Campbell",
    "Anderson",
    "Singh",
    "Nguyen",
    "Clark",
)
CITIES = (
    "Brantford",
    "Toronto",
    "Ottawa",
    "London",
    "Kitchener",
    "Montreal",
    "Calgary",
    "Vancouver",
    "New York",
    "Chicago",
    "Boston",
    "Seattle",
    "Houston",
    "Miami",
)

TEMPLATE_BODY = (
    "Hello {{first-name}}, this week's specials at our {{city}} store are in. "
    "Reply STOP to opt out."
)


@dataclass(frozen=True)
class Recipient:
    """One envelope to upload: the number as the client types it, its E.164 form, and meta."""

    raw: str
    e164: str
    meta: dict[str, Any]


def _number(index: int) -> tuple[str, str]:
    line, rest = index % LINES, index // LINES
    exchange, area = EXCHANGES[rest % len(EXCHANGES)], AREA_CODES[rest // len(EXCHANGES)]
    e164 = f"+1{area}{exchange}{line:04d}"
    # One in five as a person would type it; the engine must normalise those to E.164.
    raw = f"+1 {area}-{exchange}-{line:04d}" if index % 5 == 0 else e164
    return raw, e164


def recipients(count: int, *, seed: int = 4) -> list[Recipient]:
    """`count` recipients with distinct numbers (a spot check asserts they are all valid)."""
    if count > CAPACITY:
        raise ValueError(f"at most {CAPACITY} distinct numbers")
    rng = random.Random(seed)
    chosen = rng.sample(range(CAPACITY), count)
    out = []
    for index in chosen:
        raw, e164 = _number(index)
        meta = {
            "first-name": rng.choice(FIRST_NAMES),
            "last-name": rng.choice(LAST_NAMES),
            "city": rng.choice(CITIES),
        }
        out.append(Recipient(raw, e164, meta))
    _spot_check(out, rng)
    return out


def _spot_check(items: list[Recipient], rng: random.Random) -> None:
    for item in rng.sample(items, min(len(items), 500)):
        number = phonenumbers.parse(item.raw, "US")
        if not phonenumbers.is_valid_number(number):
            raise AssertionError(f"generated an invalid number {item.raw}")


def envelope_documents(
    engagement_id: str, items: list[Recipient], size: int
) -> Iterator[dict[str, Any]]:
    """Bulk `data` documents of `size` envelopes each, built lazily (a million would be ~0.5 GB)."""
    relationships = {"engagement": {"data": {"type": "engagements", "id": engagement_id}}}
    for start in range(0, len(items), size):
        yield {
            "data": [
                {
                    "type": "envelopes",
                    "attributes": {"phone-number": item.raw, "meta": item.meta},
                    "relationships": relationships,
                }
                for item in items[start : start + size]
            ]
        }
