"""Per-sender throughput, shared by every worker through Redis (GCRA, the generic cell rate
algorithm).

Each phone number has a theoretical arrival time (TAT) in Redis. A reservation of `cost`
segments is granted at `max(TAT, now)` and pushes the TAT by `cost / throughput` seconds, so the
sender's messages are spaced exactly, however many workers take turns. The Redis clock is the
one clock, so workers on different machines agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

# KEYS[1]: the sender's TAT key. ARGV: microseconds per segment, cost, longest acceptable wait.
# Returns {granted (0/1), wait in microseconds}. Nothing is reserved when the wait is too long,
# so a deferred text does not hold a slot it will not use.
_GCRA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat - now
if wait > max_wait then return {0, wait} end
local new_tat = tat + interval * cost
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, wait}
"""


@dataclass(frozen=True)
class Reservation:
    """`granted`: send after `wait` seconds. Otherwise the sender is busy for `wait` seconds."""

    granted: bool
    wait: float


class SenderThrottle:
    """Reserves send slots for phone numbers at their `throughput` (segments per second)."""

    def __init__(self, connection: redis.Redis) -> None:
        self._script = connection.register_script(_GCRA)

    def reserve(
        self, phone_number_id: str, throughput: int, *, cost: int = 1, max_wait: float = 1.0
    ) -> Reservation:
        """Reserve `cost` segments of the sender's rate, if they are free within `max_wait`."""
        interval_us = 1_000_000 / throughput
        granted, wait_us = self._script(
            keys=[f"campaign:throttle:{phone_number_id}"],
            args=[interval_us, cost, int(max_wait * 1_000_000)],
        )
        return Reservation(bool(granted), int(wait_us) / 1_000_000)
