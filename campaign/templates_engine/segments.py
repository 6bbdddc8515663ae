"""SMS segment counting: GSM 03.38 (7-bit) when every character fits, otherwise UCS-2.
The empty string counts as 0 units but 1 segment, because sending it still costs one message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM_SINGLE = 160
GSM_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

# GSM 03.38 basic character set, one septet each (0x1B, ESC, is listed for completeness).
GSM_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: sent as ESC + code, so each costs two septets.
GSM_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a text is encoded and how many SMS segments and units it takes."""

    encoding: Encoding
    segments: int
    units: int


def count_segments(text: str) -> SegmentInfo:
    """Count segments and units (GSM-7 septets or UTF-16 code units) for an SMS body."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        costs = [2 if ch in GSM_EXTENSION else 1 for ch in text]
        return _pack("GSM-7", costs, GSM_SINGLE, GSM_PART)
    # Characters outside the BMP (most emoji) are a surrogate pair: two UTF-16 code units.
    costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return _pack("UCS-2", costs, UCS2_SINGLE, UCS2_PART)


def _pack(encoding: Encoding, costs: list[int], single: int, part: int) -> SegmentInfo:
    """Fill parts greedily; a two-unit character never straddles a part boundary."""
    units = sum(costs)
    if units <= single:
        return SegmentInfo(encoding=encoding, segments=1, units=units)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return SegmentInfo(encoding=encoding, segments=segments, units=units)
