"""The scheduler thread of every `campaign worker`: moves due `enqueue_at` jobs (retries, deferred
texts, progress refreshes, delivery-time dispatches) onto their queues, through Redis outages, and
takes over a crashed worker's scheduler lock seconds after its holder stopped refreshing it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import redis
from redis.backoff import ExponentialBackoff
from rq.scheduler import RQScheduler

log = logging.getLogger(__name__)

# Seconds between ticks: RQScheduler's default interval. RQ gives each lock a TTL of
# interval + 60 s and its holder refreshes it every tick.
TICK = 1
# A lock not refreshed for this long belongs to a dead holder (kill -9 leaves the lock to live
# out its 61 s, and RQ's own worker only looks again at its ten-minute maintenance).
STALE_AFTER = 5
# The longest pause between attempts while Redis does not answer.
MAX_BACKOFF = 5

# KEYS[1]: a scheduler lock; ARGV[1]: milliseconds of TTL below which its holder has missed its
# refreshes. Atomic, so a holder that refreshes in between keeps its lock.
_TAKE_OVER_STALE = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= 0 and ttl < tonumber(ARGV[1]) then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Scheduler:
    """One worker's claim on the scheduler locks of `queue_names`, and the due-job mover."""

    def __init__(self, connection: redis.Redis, queue_names: Iterable[str]) -> None:
        self._queue_names = set(queue_names)
        self._rq = RQScheduler(sorted(self._queue_names), connection=connection, interval=TICK)
        self._take_over = self._rq.connection.register_script(_TAKE_OVER_STALE)

    @property
    def holds(self) -> set[str]:
        """The queues this scheduler holds the lock of."""
        return set(self._rq.acquired_locks)

    def tick(self) -> None:
        """Refresh or take the locks, then enqueue the due jobs of the queues held."""
        if self._rq.acquired_locks == self._queue_names:
            self._rq.heartbeat()  # refreshes the locks; drops any another scheduler took
        else:
            stale_below = ((TICK + 60) - STALE_AFTER) * 1000
            for name in self._queue_names - self._rq.acquired_locks:
                self._take_over(keys=[RQScheduler.get_locking_key(name)], args=[stale_below])
            if self._rq.acquire_locks():
                self._rq.register_birth()  # the metadata `rq info` reads for a lock holder
        if self._rq.acquired_locks:
            self._rq.enqueue_scheduled_jobs()

    def release(self) -> None:
        """Give the locks back, so another worker takes over at its next tick."""
        self._rq.release_locks()
        self._rq.register_death()

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop`; while Redis does not answer, log once and back off."""
        backoff = ExponentialBackoff(cap=MAX_BACKOFF, base=TICK)
        failures = 0
        while not stop.wait(backoff.compute(failures) if failures else TICK):
            try:
                self.tick()
            except redis.RedisError:
                if not failures:
                    log.warning("Redis unreachable; scheduled jobs wait for it", exc_info=True)
                failures += 1
                continue
            if failures:
                log.info("Redis answers again; scheduled jobs move again")
                failures = 0
        try:
            self.release()
        except redis.RedisError:
            log.warning("could not release the scheduler locks; they expire on their own")
