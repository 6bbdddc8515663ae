"""The API's per-account limiter: one GCRA step in Redis per request (`EVALSHA` of a short
script, the clock Redis's own, so every web process agrees), and the answer it gives.

An unreachable Redis serves the request unlimited (fail open): the API stays up when the
limiter cannot count, and the outage is logged once until Redis answers again. Failing open
must also be fast, so the limiter has a client of its own on the same server: no retries (the
app's client retries with backoff, seconds that every request would wait) and a short timeout.
"""

from __future__ import annotations

import functools
import logging
import threading

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from campaign.limits.rates import Decision, Rate, decision

log = logging.getLogger(__name__)

# KEYS[1]: the account's TAT; ARGV: interval, period (seconds). Returns allowed (0/1), the TAT
# (after this request when allowed) and Redis's now, as strings (Lua numbers lose digits).
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local pushed = tat + interval
if pushed - now > period then
  return {0, tostring(tat), tostring(now)}
end
redis.call('SET', KEYS[1], tostring(pushed), 'PX', math.ceil((pushed - now) * 1000))
return {1, tostring(pushed), tostring(now)}
"""

_outage = threading.Event()
# Longest the limiter waits on Redis (connect, or the script's answer), in seconds: a loopback
# or same-zone Redis answers in well under a millisecond.
TIMEOUT = 0.25


def _key(account_id: str, rate: Rate) -> str:
    # Per rate too: a limit the operator changes starts with a full bucket.
    return f"campaign:rate:{account_id}:{rate.requests}:{rate.period}"


@functools.lru_cache(maxsize=8)
def _script(connection: redis.Redis) -> Script:
    """The script on a client of the limiter's own to `connection`'s server (its pool's
    settings, TLS included, but no retries and TIMEOUT), its SHA1 computed once (EVALSHA,
    loaded on the first NOSCRIPT)."""
    pool = connection.connection_pool
    settings = {
        **pool.connection_kwargs,
        "retry": Retry(NoBackoff(), 0),
        "socket_timeout": TIMEOUT,
        "socket_connect_timeout": TIMEOUT,
    }
    own = redis.Redis(
        connection_pool=type(pool)(connection_class=pool.connection_class, **settings)
    )
    return own.register_script(_GCRA)


def take(connection: redis.Redis, account_id: str, rate: Rate) -> Decision | None:
    """Count one request of the account; its Decision, or None when Redis cannot be reached."""
    try:
        allowed, tat, now = _script(connection)(
            keys=[_key(account_id, rate)], args=[repr(rate.interval), rate.period]
        )
    except redis.RedisError:
        if not _outage.is_set():
            _outage.set()
            log.warning("the rate limiter cannot reach Redis; serving requests unlimited")
        return None
    if _outage.is_set():
        _outage.clear()
        log.info("the rate limiter reaches Redis again")
    return decision(rate, bool(int(allowed)), float(tat), float(now))
