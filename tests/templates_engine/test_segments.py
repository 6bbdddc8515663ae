"""Unit tests for SMS segment counting (GSM-7 vs UCS-2, multipart boundaries)."""

from __future__ import annotations

import dataclasses

import pytest

from campaign.templates_engine.segments import (
    GSM_BASIC,
    GSM_PART,
    GSM_SINGLE,
    UCS2_PART,
    UCS2_SINGLE,
    SegmentInfo,
    count_segments,
)

GREEK_AND_ACCENTS = "ΔΦΓΛΩΠΨΣΘΞ£¥èéùìòÇØøÅåÆæßÉ¤¡ÄÖÑÜ§¿äöñüà"


def test_limits_match_the_sms_standard() -> None:
    assert (GSM_SINGLE, GSM_PART, UCS2_SINGLE, UCS2_PART) == (160, 153, 70, 67)


def test_empty_text_is_one_gsm_segment_with_zero_units() -> None:
    assert count_segments("") == SegmentInfo(encoding="GSM-7", segments=1, units=0)


def test_plain_ascii_is_gsm7_one_septet_per_character() -> None:
    assert count_segments("Hello Alexander!") == SegmentInfo("GSM-7", 1, 16)


def test_greek_and_accented_gsm_characters_stay_gsm7() -> None:
    info = count_segments(GREEK_AND_ACCENTS)
    assert info.encoding == "GSM-7"
    assert info.units == len(GREEK_AND_ACCENTS)


def test_whole_basic_table_is_one_septet_each() -> None:
    text = "".join(sorted(GSM_BASIC))
    assert len(text) == 128
    assert count_segments(text) == SegmentInfo("GSM-7", 1, 128)


def test_gsm_extension_characters_count_twice() -> None:
    extension = "^{}\\[~]|€\f"
    assert count_segments(extension) == SegmentInfo("GSM-7", 1, 2 * len(extension))


def test_160_gsm_chars_is_one_segment() -> None:
    assert count_segments("a" * 160) == SegmentInfo("GSM-7", 1, 160)


def test_161_gsm_chars_is_two_segments() -> None:
    assert count_segments("a" * 161) == SegmentInfo("GSM-7", 2, 161)


def test_306_gsm_chars_is_two_segments_307_is_three() -> None:
    assert count_segments("a" * 306).segments == 2
    assert count_segments("a" * 307).segments == 3


def test_extension_characters_can_push_text_into_a_second_segment() -> None:
    assert count_segments("a" * 159 + "€").segments == 2
    assert count_segments("a" * 158 + "€").segments == 1


def test_escape_pair_does_not_straddle_the_153_boundary() -> None:
    # 306 septets would fit two parts, but the euro's pair starts at septet 153 and moves on.
    info = count_segments("a" * 152 + "€" + "a" * 152)
    assert info.units == 306
    assert info.segments == 3


def test_emoji_switches_to_ucs2() -> None:
    assert count_segments("Hi 😀") == SegmentInfo("UCS-2", 1, 5)


def test_non_gsm_letter_switches_to_ucs2() -> None:
    info = count_segments("Olá á")
    assert info.encoding == "UCS-2"
    assert info.units == 5


@pytest.mark.parametrize(
    ("length", "segments"),
    [(70, 1), (71, 2), (134, 2), (135, 3)],
)
def test_ucs2_boundaries(length: int, segments: int) -> None:
    info = count_segments("Ж" * length)
    assert info == SegmentInfo("UCS-2", segments, length)


def test_emoji_counts_two_utf16_units() -> None:
    assert count_segments("😀" * 35) == SegmentInfo("UCS-2", 1, 70)
    assert count_segments("😀" * 35 + "a") == SegmentInfo("UCS-2", 2, 71)


def test_surrogate_pair_does_not_straddle_the_67_boundary() -> None:
    # 134 units would fit two parts, but the emoji starts at unit 67 and moves on.
    info = count_segments("Ж" * 66 + "😀" + "Ж" * 66)
    assert info.units == 134
    assert info.segments == 3


def test_segment_info_is_frozen() -> None:
    info = count_segments("hi")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.segments = 5  # type: ignore[misc]
