"""Per-sender throughput, shared by every worker through Redis (GCRA, the generic cell rate
algorithm).

Each sender number (E.164, not the phone-number row: rows come and go, and the carrier paces the
number) has a theoretical arrival time (TAT) in Redis. A reservation of `cost`
segments is granted at `max(TAT, now)` and pushes the TAT by `cost / throughput` seconds, so the
sender's messages are spaced exactly, however many workers take turns. The Redis clock is the
one clock, so workers on different machines agree.
"""

from __future__ import annotations

import logging

import redis

log = logging.getLogger(__name__)

# KEYS[1]: the sender's TAT key. ARGV[1]: microseconds per segment, ARGV[2]: the longest
# acceptable wait, ARGV[3..]: the cost of each message in order. Returns the wait (in
# microseconds) of each message granted, a prefix of those asked for: nothing is reserved for a
# message that would wait too long, so a deferred text holds no slot it will not use.
_GCRA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local waits = {}
for i = 3, #ARGV do
  local wait = tat - now
  if wait > max_wait then break end
  waits[#waits + 1] = wait
  tat = tat + interval * tonumber(ARGV[i])
end
if #waits > 0 then
  redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return waits
"""


def throttle_key(number: str) -> str:
    """The Redis key of a sender's TAT: one per E.164 number, whichever row sends from it."""
    return f"campaign:throttle:{number}"


class SenderThrottle:
    """Reserves send slots for sender numbers at their `throughput` (segments per second)."""

    def __init__(self, connection: redis.Redis) -> None:
        self._script = connection.register_script(_GCRA)

    def reserve_many(
        self, number: str, throughput: int, costs: list[int], *, max_wait: float
    ) -> list[float]:
        """Reserve consecutive slots for messages of these `costs` (segments) from `number`.

        Returns the wait in seconds before each granted message may go: a prefix of `costs`,
        cut where the sender is booked further ahead than `max_wait`; empty while Redis is
        unreachable, so the claimed texts go back to the queue untried instead of waiting in
        `sending` for the sweep to call them `unknown`.
        """
        if not costs:
            return []
        try:
            waits = self._script(
                keys=[throttle_key(number)],
                args=[1_000_000 / throughput, int(max_wait * 1_000_000), *costs],
            )
        except (redis.ConnectionError, redis.TimeoutError):
            log.warning("Redis unreachable: no send slots for %s this round", number)
            return []
        return [int(wait) / 1_000_000 for wait in waits]
