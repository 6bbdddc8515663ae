"""campaign/moments.py: a client's moment in UTC, and the range it must lie in to be stored and
read back in any time zone (a day inside datetime's own range at both ends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from campaign.moments import EARLIEST, LATEST, MomentOutOfRange, to_utc

PLUS_0530 = timezone(timedelta(hours=5, minutes=30))
MINUS_ONE = timezone(timedelta(hours=-1))
PLUS_ONE = timezone(timedelta(hours=1))


def test_the_range_is_a_day_inside_datetimes_own() -> None:
    assert datetime(1, 1, 2, tzinfo=UTC) == EARLIEST
    assert datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC) == LATEST


@pytest.mark.parametrize(
    ("moment", "utc"),
    [
        (datetime(2031, 1, 1, 9, tzinfo=UTC), datetime(2031, 1, 1, 9, tzinfo=UTC)),
        (datetime(2031, 1, 1, 9, tzinfo=PLUS_0530), datetime(2031, 1, 1, 3, 30, tzinfo=UTC)),
        (datetime(2030, 12, 31, 23, tzinfo=MINUS_ONE), datetime(2031, 1, 1, 0, tzinfo=UTC)),
        (EARLIEST, EARLIEST),
        (LATEST, LATEST),
        # The bounds hold in UTC, whatever zone the moment was written in.
        (datetime(1, 1, 2, 1, tzinfo=PLUS_ONE), EARLIEST),
        (datetime(9999, 12, 30, 22, 59, 59, 999_999, tzinfo=MINUS_ONE), LATEST),
    ],
    ids=[
        "utc",
        "+05:30",
        "-01:00 across a year",
        "earliest",
        "latest",
        "earliest +01",
        "latest -01",
    ],
)
def test_an_aware_moment_in_range_is_returned_in_utc(moment: datetime, utc: datetime) -> None:
    converted = to_utc(moment)

    assert converted == utc
    assert converted.tzinfo is UTC


@pytest.mark.parametrize(
    "moment",
    [
        EARLIEST - timedelta(microseconds=1),
        LATEST + timedelta(microseconds=1),
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
        # Converting these to UTC leaves datetime's range (OverflowError inside).
        datetime.min.replace(tzinfo=PLUS_ONE),
        datetime.max.replace(tzinfo=MINUS_ONE),
        # In range as written, a microsecond out once in UTC.
        datetime(1, 1, 2, 0, 59, 59, 999_999, tzinfo=PLUS_ONE),
    ],
    ids=[
        "before earliest",
        "after latest",
        "datetime.min",
        "datetime.max",
        "datetime.min +01 overflows",
        "datetime.max -01 overflows",
        "out only in utc",
    ],
)
def test_a_moment_out_of_range_is_refused_naming_the_range(moment: datetime) -> None:
    with pytest.raises(MomentOutOfRange, match=r"must be between .* and 9999-12-30 \(UTC\)"):
        to_utc(moment)


def test_out_of_range_is_a_value_error() -> None:
    # Callers that parse input catch ValueError; an out-of-range moment must be one.
    assert issubclass(MomentOutOfRange, ValueError)
