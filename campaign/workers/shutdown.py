"""A work horse's notice that its worker is shutting down (Heroku's SIGTERM).

Long jobs check it between rounds and stop cleanly: they record what they sent and re-enqueue
the rest, instead of being cut off mid-send and leaving texts `unknown`.
"""

from __future__ import annotations

import threading

_requested = threading.Event()


def request() -> None:
    _requested.set()


def requested() -> bool:
    return _requested.is_set()
