"""API rate limits (pure): the `N/second|minute|hour` setting, and what a GCRA's answer means
for the response headers.

The limiter (`limiter.py`) keeps one number per account in Redis, the theoretical arrival time
(TAT) of the next request. A request at `now` is allowed when the TAT it pushes forward, by one
interval (period / N), lies at most one period ahead: so a full bucket takes N requests at
once, then one per interval. Everything the client is told follows from the stored TAT.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

PERIODS = {"second": 1, "minute": 60, "hour": 3600}
MAX_REQUESTS = 1_000_000
OFF = "off"
_RATE = re.compile(r"([0-9]{1,7})\s*/\s*(second|minute|hour)")


@dataclass(frozen=True)
class Rate:
    """At most `requests` per `period` seconds, all of them at once if the bucket is full."""

    requests: int
    period: int

    @property
    def interval(self) -> float:
        return self.period / self.requests

    def __str__(self) -> str:
        unit = next(name for name, seconds in PERIODS.items() if seconds == self.period)
        return f"{self.requests}/{unit}"


def parse_rate(raw: str) -> Rate | None:
    """`"100/minute"` as a Rate; `"off"` as None (no limit). ValueError says what is wrong."""
    text = raw.strip().lower()
    if text == OFF:
        return None
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(f'must be "N/second", "N/minute", "N/hour" or "off", got {raw[:40]!r}')
    requests = int(match[1])
    if not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"must allow 1 to {MAX_REQUESTS:,} requests, got {requests:,}")
    return Rate(requests, PERIODS[match[2]])


@dataclass(frozen=True)
class Decision:
    """The limiter's answer to one request, as the response states it (whole seconds)."""

    allowed: bool
    limit: int
    remaining: int  # requests allowed right now after this one
    reset: int  # seconds until the bucket is full again
    retry_after: int  # seconds until a request is allowed (0 when this one was)

    def headers(self) -> dict[str, str]:
        """The IETF RateLimit fields, and Retry-After on a refusal."""
        fields = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            fields["Retry-After"] = str(self.retry_after)
        return fields


def decision(rate: Rate, allowed: bool, tat: float, now: float) -> Decision:
    """What the stored TAT (after this request, when allowed; as it was, when refused) means at
    `now` (the same clock: Redis's)."""
    ahead = max(0.0, tat - now)
    remaining = max(0, math.floor((rate.period - ahead) / rate.interval + 1e-9))
    retry_after = 0 if allowed else max(1, math.ceil(ahead + rate.interval - rate.period - 1e-9))
    return Decision(allowed, rate.requests, remaining, math.ceil(ahead - 1e-9), retry_after)
