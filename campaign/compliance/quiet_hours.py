"""Recipient-local sending windows (the TCPA's 8:00-21:00 in the recipient's own zone): parse the
API's `queue-schedule`, find a number's zones, and say whether, or from when, a text may go.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_timezone

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(1, 8))
HORIZON_DAYS = 8  # a week plus one day: every weekly opening shows up in it
MAX_ZONE_NAME = 64
MAX_NUMBER_LENGTH = 32  # E.164 is at most 16 characters; room for spaces, no room for abuse
UNKNOWN_ZONE = "Etc/Unknown"  # phonenumbers' "no idea"

_HH_MM = re.compile(r"([0-9]{2}):([0-9]{2})")
_UTC = dt.UTC
_HOUR = dt.timedelta(hours=1)


class ScheduleError(ValueError):
    """A schedule the API refuses; `member` is the offending key ("start", "days/3", "timezone")."""

    def __init__(self, message: str, member: str):
        super().__init__(message)
        self.member = member


@dataclass(frozen=True)
class Window:
    """Local times [start, end) on ISO weekdays (1 = Monday); never crosses midnight."""

    start: dt.time
    end: dt.time
    days: frozenset[int]

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are wall-clock times, without a zone")
        if not self.start < self.end:
            raise ValueError("end must be after start")
        if not self.days or not self.days <= ALL_DAYS:
            raise ValueError("days must be a non-empty set of ISO weekdays 1-7")

    def contains(self, local: dt.datetime) -> bool:
        """Whether a local wall-clock moment falls inside the window."""
        return local.isoweekday() in self.days and self.start <= local.time() < self.end


def parse_window(value: object) -> Window:
    """The `queue-schedule` object without its timezone: `{"start", "end", "days"?}`.

    `days` defaults to all seven; other members (the timezone) are left to their own parsers.
    """
    if not isinstance(value, dict):
        raise ScheduleError("the schedule must be an object", "")
    start = _parse_time(value, "start")
    end = _parse_time(value, "end")
    if not start < end:
        raise ScheduleError("end must be after start", "end")
    return Window(start=start, end=end, days=_parse_days(value))


def _parse_time(value: dict[str, Any], member: str) -> dt.time:
    if member not in value:
        raise ScheduleError(f"{member} is required", member)
    text = value[member]
    match = _HH_MM.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ScheduleError(f'{member} must be a time "HH:MM"', member)
    hour, minute = int(match[1]), int(match[2])
    if hour > 23 or minute > 59:
        raise ScheduleError(f"{member} must be between 00:00 and 23:59", member)
    return dt.time(hour, minute)


def _parse_days(value: dict[str, Any]) -> frozenset[int]:
    if "days" not in value:
        return ALL_DAYS
    names = value["days"]
    if not isinstance(names, list):
        raise ScheduleError("days must be a list of day names", "days")
    if not names:
        raise ScheduleError("days must name at least one day", "days")
    days: set[int] = set()
    for index, name in enumerate(names):
        if not isinstance(name, str) or name not in DAY_NAMES:
            raise ScheduleError(f"days must be among {', '.join(DAY_NAMES)}", f"days/{index}")
        day = DAY_NAMES.index(name) + 1
        if day in days:
            raise ScheduleError(f"{name} is listed twice", f"days/{index}")
        days.add(day)
    return frozenset(days)


def parse_zone(name: str) -> ZoneInfo:
    """An IANA zone by name; only names the installed database lists, so no other file is read."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > MAX_ZONE_NAME
        or ".." in name
        or name.startswith("/")
        or name not in _zone_names()
    ):
        raise ScheduleError("timezone must be an IANA time zone name", "timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ScheduleError("timezone must be an IANA time zone name", "timezone") from exc


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def zones_for_number(e164: str, fallback: ZoneInfo) -> tuple[ZoneInfo, ...]:
    """The zones phonenumbers gives the number, or `(fallback,)` when it cannot tell."""
    if not isinstance(e164, str) or len(e164) > MAX_NUMBER_LENGTH:
        return (fallback,)
    zones = tuple(ZoneInfo(name) for name in _number_zone_names(e164))
    return zones or (fallback,)


@functools.lru_cache(maxsize=65536)
def _number_zone_names(e164: str) -> tuple[str, ...]:
    # Keys are at most MAX_NUMBER_LENGTH characters and values a few short names, so a full cache
    # stays around 15 MB; the fallback is applied outside so it is not part of the key.
    try:
        names = phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return ()
    return tuple(name for name in names if name != UNKNOWN_ZONE and name in _zone_names())


def is_open(window: Window, zones: Sequence[ZoneInfo], at: dt.datetime) -> bool:
    """Whether the window is open at `at` in every one of the number's zones."""
    _check(zones, at)
    return all(window.contains(at.astimezone(zone)) for zone in zones)


def next_opening(window: Window, zones: Sequence[ZoneInfo], at: dt.datetime) -> dt.datetime:
    """The earliest UTC moment >= `at` at which `is_open` holds.

    A zone can only open at its local `start` (either side of a fall-back fold) or at one of its
    offset changes (a start inside a spring-forward gap opens when the gap ends), so those moments
    and `at` itself are the only candidates. Zones whose offsets differ by more than the window's
    length may never be open together; that, or no opening within 8 days, is a `ScheduleError` on
    "timezone", since the fix is the schedule (or its zone), not a later retry.
    """
    _check(zones, at)
    at = at.astimezone(_UTC)
    horizon = at + dt.timedelta(days=HORIZON_DAYS)
    candidates = {at}
    for zone in zones:
        candidates.update(_local_starts(window, zone, at))
        candidates.update(_offset_changes(zone, at, horizon))
    for moment in sorted(c for c in candidates if at <= c <= horizon):
        if is_open(window, zones, moment):
            return moment
    raise ScheduleError(
        "the window is not open in all of the number's zones within the next 8 days", "timezone"
    )


def _check(zones: Sequence[ZoneInfo], at: dt.datetime) -> None:
    if not zones:
        raise ValueError("a number has at least one zone")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")


def _local_starts(window: Window, zone: ZoneInfo, at: dt.datetime) -> set[dt.datetime]:
    """Each local `start` from the day before `at` to the horizon, both folds, in UTC."""
    first = at.astimezone(zone).date() - dt.timedelta(days=1)
    starts: set[dt.datetime] = set()
    for offset in range(HORIZON_DAYS + 2):
        day = first + dt.timedelta(days=offset)
        if day.isoweekday() not in window.days:
            continue
        for fold in (0, 1):
            local = dt.datetime.combine(day, window.start, tzinfo=zone).replace(fold=fold)
            starts.add(local.astimezone(_UTC))
    return starts


def _offset_changes(zone: ZoneInfo, at: dt.datetime, horizon: dt.datetime) -> set[dt.datetime]:
    """The moments the zone's UTC offset changes in [at - 1h, horizon], to the second."""
    changes: set[dt.datetime] = set()
    moment = (at - _HOUR).replace(microsecond=0)  # whole seconds, so the bisection ends
    while moment < horizon:
        after = moment + _HOUR
        if moment.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset():
            changes.add(_bisect_change(zone, moment, after))
        moment = after
    return changes


def _bisect_change(zone: ZoneInfo, before: dt.datetime, after: dt.datetime) -> dt.datetime:
    old = before.astimezone(zone).utcoffset()
    low, high = before, after  # offset at low is old, at high is new
    while high - low > dt.timedelta(seconds=1):
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == old:
            low = middle
        else:
            high = middle
    return high
