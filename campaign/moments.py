"""The range of moments the API accepts from clients (`delivery-time`, page cursors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# A day inside datetime's range on both ends, so that the moment stays representable in any
# time zone a driver or database session may convert it to on the way back.
EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


class MomentOutOfRange(ValueError):
    """A moment too close to year 1 or year 9999 to be stored and read back safely."""


def to_utc(moment: datetime) -> datetime:
    """`moment` (timezone-aware) in UTC, or MomentOutOfRange."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise MomentOutOfRange(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
    return utc
