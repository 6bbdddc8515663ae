"""Quiet hours: parsing the schedule and zone, a number's zones, open-in-all-zones, next opening."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from campaign.compliance.quiet_hours import (
    ALL_DAYS,
    ScheduleError,
    Window,
    is_open,
    next_opening,
    parse_window,
    parse_zone,
    zones_for_number,
)

NEW_YORK = ZoneInfo("America/New_York")
HALIFAX = ZoneInfo("America/Halifax")
ST_JOHNS = ZoneInfo("America/St_Johns")
TORONTO = ZoneInfo("America/Toronto")
TOKYO = ZoneInfo("Asia/Tokyo")
UTC = dt.UTC
WEEKDAYS = frozenset(range(1, 6))
TCPA = Window(dt.time(8), dt.time(21), ALL_DAYS)


def local(zone: ZoneInfo, text: str, fold: int = 0) -> dt.datetime:
    """A local wall-clock moment as aware UTC."""
    moment = dt.datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)
    return moment.astimezone(UTC)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- parse_window ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            {"start": "08:00", "end": "21:00"},
            Window(dt.time(8), dt.time(21), ALL_DAYS),
            id="days-default-to-all",
        ),
        pytest.param(
            {"start": "00:00", "end": "23:59", "days": ["sun", "mon"]},
            Window(dt.time(0), dt.time(23, 59), frozenset({7, 1})),
            id="extremes-and-day-names",
        ),
        pytest.param(
            {"start": "09:30", "end": "17:00", "days": ["mon"], "timezone": "America/Toronto"},
            Window(dt.time(9, 30), dt.time(17), frozenset({1})),
            id="timezone-member-left-to-parse-zone",
        ),
    ],
)
def test_parse_window_accepts(value: object, expected: Window) -> None:
    assert parse_window(value) == expected


@pytest.mark.parametrize(
    ("value", "member", "message"),
    [
        pytest.param(["08:00", "21:00"], "", "must be an object", id="not-an-object"),
        pytest.param(None, "", "must be an object", id="null"),
        pytest.param({"end": "21:00"}, "start", "start is required", id="missing-start"),
        pytest.param({"start": "08:00"}, "end", "end is required", id="missing-end"),
        pytest.param({"start": "8:00", "end": "21:00"}, "start", "HH:MM", id="one-digit-hour"),
        pytest.param({"start": "08:00:00", "end": "21:00"}, "start", "HH:MM", id="seconds"),
        pytest.param({"start": 800, "end": "21:00"}, "start", "HH:MM", id="number"),
        pytest.param(
            {"start": "\u0660\u0668:00", "end": "21:00"}, "start", "HH:MM", id="arabic-digits"
        ),
        pytest.param({"start": "08:00", "end": "24:00"}, "end", "23:59", id="24-00-refused"),
        pytest.param({"start": "08:60", "end": "21:00"}, "start", "23:59", id="minute-60"),
        pytest.param(
            {"start": "21:00", "end": "08:00"}, "end", "end must be after start", id="reversed"
        ),
        pytest.param(
            {"start": "08:00", "end": "08:00"}, "end", "end must be after start", id="empty-window"
        ),
        pytest.param(
            {"start": "08:00", "end": "21:00", "days": []}, "days", "at least", id="no-day"
        ),
        pytest.param(
            {"start": "08:00", "end": "21:00", "days": "mon"}, "days", "a list", id="days-a-string"
        ),
        pytest.param(
            {"start": "08:00", "end": "21:00", "days": ["mon", "tue", "wed", "Thu"]},
            "days/3",
            "among",
            id="day-name-case",
        ),
        pytest.param(
            {"start": "08:00", "end": "21:00", "days": ["mon", "monday"]},
            "days/1",
            "among",
            id="unknown-day",
        ),
        pytest.param(
            {"start": "08:00", "end": "21:00", "days": ["fri", "sat", "fri"]},
            "days/2",
            "twice",
            id="duplicate-day",
        ),
        pytest.param(
            {"start": "08:00", "end": "21:00", "days": [1]}, "days/0", "among", id="day-number"
        ),
    ],
)
def test_parse_window_refuses_with_member(value: object, member: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message) as caught:
        parse_window(value)
    assert caught.value.member == member


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        pytest.param(dt.time(9), dt.time(9), ALL_DAYS, id="empty"),
        pytest.param(dt.time(9), dt.time(8), ALL_DAYS, id="crosses-midnight"),
        pytest.param(dt.time(8), dt.time(9), frozenset(), id="no-days"),
        pytest.param(dt.time(8), dt.time(9), frozenset({0}), id="day-zero"),
    ],
)
def test_window_refuses_inconsistent_construction(
    start: dt.time, end: dt.time, days: frozenset[int]
) -> None:
    with pytest.raises(ValueError):
        Window(start, end, days)


# --- parse_zone -----------------------------------------------------------------------------


def test_parse_zone_accepts_an_iana_name() -> None:
    assert parse_zone("America/New_York") == NEW_YORK


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Mars/Olympus", id="unknown"),
        pytest.param("../etc/passwd", id="dot-dot"),
        pytest.param("", id="empty"),
        pytest.param("/etc/localtime", id="absolute"),
        pytest.param("America", id="directory"),
        pytest.param("America/New_York\x00", id="nul"),
        pytest.param("A" * 65, id="too-long"),
        pytest.param("Etc/Unknown", id="phonenumbers-unknown"),
    ],
)
def test_parse_zone_refuses(name: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_zone(name)
    assert caught.value.member == "timezone"


# --- zones_for_number -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        pytest.param("+17095551234", (HALIFAX, ST_JOHNS), id="709-spans-two-zones"),
        pytest.param("+1 709 555 1234", (HALIFAX, ST_JOHNS), id="709-with-spaces"),
        pytest.param("+15195551234", (TORONTO,), id="519-toronto"),
        pytest.param("+80012345678", (TOKYO,), id="etc-unknown-gives-fallback"),
        pytest.param("+999123", (TOKYO,), id="bad-country-code-gives-fallback"),
        pytest.param("not a number", (TOKYO,), id="garbage-gives-fallback"),
        pytest.param("", (TOKYO,), id="empty-gives-fallback"),
        pytest.param("+1" + "5" * 200, (TOKYO,), id="over-long-gives-fallback"),
    ],
)
def test_zones_for_number(number: str, expected: tuple[ZoneInfo, ...]) -> None:
    assert zones_for_number(number, TOKYO) == expected


# --- is_open --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "zones", "at", "expected"),
    [
        pytest.param(TCPA, [NEW_YORK], local(NEW_YORK, "2026-06-03 07:59"), False, id="07:59"),
        pytest.param(TCPA, [NEW_YORK], local(NEW_YORK, "2026-06-03 08:00"), True, id="08:00"),
        pytest.param(TCPA, [NEW_YORK], local(NEW_YORK, "2026-06-03 20:59"), True, id="20:59"),
        pytest.param(TCPA, [NEW_YORK], local(NEW_YORK, "2026-06-03 21:00"), False, id="21:00"),
        pytest.param(
            Window(dt.time(8), dt.time(21), WEEKDAYS),
            [NEW_YORK],
            local(NEW_YORK, "2026-06-06 12:00"),
            False,
            id="saturday-excluded",
        ),
        pytest.param(
            Window(dt.time(8), dt.time(21), WEEKDAYS),
            [NEW_YORK],
            local(NEW_YORK, "2026-06-05 12:00"),
            True,
            id="friday-included",
        ),
        pytest.param(
            Window(dt.time(8), dt.time(21), WEEKDAYS),
            [NEW_YORK],
            utc("2026-06-06 00:30"),  # Friday 20:30 EDT, already Saturday in UTC
            True,
            id="local-day-not-utc-day",
        ),
        pytest.param(
            TCPA, [HALIFAX, ST_JOHNS], local(HALIFAX, "2026-06-03 08:00"), True, id="both-open"
        ),
        pytest.param(
            TCPA,
            [HALIFAX, ST_JOHNS],
            local(ST_JOHNS, "2026-06-03 08:00"),
            False,
            id="st-johns-open-halifax-not-yet",
        ),
        pytest.param(
            TCPA,
            [HALIFAX, ST_JOHNS],
            local(HALIFAX, "2026-06-03 20:45"),
            False,
            id="halifax-open-st-johns-closed",
        ),
        pytest.param(
            Window(dt.time(2, 30), dt.time(5), ALL_DAYS),
            [NEW_YORK],
            local(NEW_YORK, "2026-03-08 01:59"),
            False,
            id="spring-forward-just-before-gap",
        ),
        pytest.param(
            Window(dt.time(2, 30), dt.time(5), ALL_DAYS),
            [NEW_YORK],
            utc("2026-03-08 07:00"),
            True,
            id="spring-forward-03:00-edt",
        ),
        pytest.param(
            Window(dt.time(1, 30), dt.time(21), ALL_DAYS),
            [NEW_YORK],
            utc("2026-11-01 06:00"),
            False,
            id="fall-back-01:00-est-closed-again",
        ),
        pytest.param(
            Window(dt.time(1, 30), dt.time(21), ALL_DAYS),
            [NEW_YORK],
            utc("2026-11-01 05:45"),
            True,
            id="fall-back-01:45-edt-open",
        ),
    ],
)
def test_is_open(window: Window, zones: list[ZoneInfo], at: dt.datetime, expected: bool) -> None:
    assert is_open(window, zones, at) is expected


def test_is_open_refuses_a_naive_moment() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(TCPA, [NEW_YORK], dt.datetime(2026, 6, 3, 12))


def test_is_open_refuses_no_zones() -> None:
    with pytest.raises(ValueError, match="zone"):
        is_open(TCPA, [], utc("2026-06-03 12:00"))


# --- next_opening ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "zones", "at", "expected"),
    [
        pytest.param(
            TCPA,
            [NEW_YORK],
            utc("2026-06-03 16:34:56.789"),
            utc("2026-06-03 16:34:56.789"),
            id="already-open-is-at",
        ),
        pytest.param(
            Window(dt.time(8), dt.time(21), WEEKDAYS),
            [NEW_YORK],
            local(NEW_YORK, "2026-06-05 22:00"),
            local(NEW_YORK, "2026-06-08 08:00"),
            id="friday-22:00-weekdays-gives-monday-08:00",
        ),
        pytest.param(
            TCPA,
            [NEW_YORK],
            local(NEW_YORK, "2026-06-03 21:00"),
            local(NEW_YORK, "2026-06-04 08:00"),
            id="at-close-gives-next-morning",
        ),
        pytest.param(
            TCPA,
            [HALIFAX, ST_JOHNS],
            local(ST_JOHNS, "2026-06-03 07:00"),
            local(HALIFAX, "2026-06-03 08:00"),
            id="two-zones-open-when-the-later-opens",
        ),
        pytest.param(
            TCPA,
            [HALIFAX, ST_JOHNS],
            local(HALIFAX, "2026-06-03 20:40"),
            local(HALIFAX, "2026-06-04 08:00"),
            id="two-zones-closed-when-the-earlier-closes",
        ),
        pytest.param(
            Window(dt.time(2, 30), dt.time(5), ALL_DAYS),
            [NEW_YORK],
            local(NEW_YORK, "2026-03-08 00:00"),
            utc("2026-03-08 07:00"),  # 03:00 EDT, the first local moment after the gap
            id="spring-forward-start-in-gap-opens-at-gap-end",
        ),
        pytest.param(
            Window(dt.time(1, 30), dt.time(5), ALL_DAYS),
            [NEW_YORK],
            local(NEW_YORK, "2026-03-08 00:00"),
            utc("2026-03-08 06:30"),  # 01:30 EST, before the gap
            id="spring-forward-start-before-gap",
        ),
        pytest.param(
            Window(dt.time(1, 30), dt.time(21), ALL_DAYS),
            [NEW_YORK],
            local(NEW_YORK, "2026-11-01 00:00"),
            utc("2026-11-01 05:30"),  # 01:30 EDT, the first of the two
            id="fall-back-start-in-fold-first-occurrence",
        ),
        pytest.param(
            Window(dt.time(1, 30), dt.time(21), ALL_DAYS),
            [NEW_YORK],
            utc("2026-11-01 06:00"),  # 01:00 EST: the clock fell back out of the window
            utc("2026-11-01 06:30"),  # 01:30 EST, the second occurrence
            id="fall-back-start-in-fold-second-occurrence",
        ),
        pytest.param(
            Window(dt.time(2, 30), dt.time(21), ALL_DAYS),
            [NEW_YORK],
            local(NEW_YORK, "2026-11-01 00:00"),
            utc("2026-11-01 07:30"),  # 02:30 EST, after the fold
            id="fall-back-start-after-fold",
        ),
        pytest.param(
            Window(dt.time(0, 30), dt.time(1, 45), ALL_DAYS),
            [NEW_YORK],
            utc("2026-11-01 05:50"),  # 01:50 EDT, after the end
            utc("2026-11-01 06:00"),  # 01:00 EST: the fall-back reopens it
            id="fall-back-reopens-at-the-transition",
        ),
    ],
)
def test_next_opening(
    window: Window, zones: list[ZoneInfo], at: dt.datetime, expected: dt.datetime
) -> None:
    opening = next_opening(window, zones, at)
    assert opening == expected
    assert is_open(window, zones, opening)
    if opening > at:  # exact to the minute: a minute earlier it was still closed
        assert not is_open(window, zones, opening - dt.timedelta(minutes=1))


def test_next_opening_refuses_zones_never_open_together() -> None:
    window = Window(dt.time(8), dt.time(9), ALL_DAYS)
    with pytest.raises(ScheduleError, match="not open in all") as caught:
        next_opening(window, [NEW_YORK, TOKYO], utc("2026-06-03 12:00"))
    assert caught.value.member == "timezone"
