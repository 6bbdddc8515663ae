"""Dispatch: the fan-out job that turns a scheduled engagement into send work."""

from __future__ import annotations


def dispatch_engagement(engagement_id: str) -> None:
    """Fan an engagement out into send batches (built in the dispatch issue)."""
    raise RuntimeError("dispatch is not available in this build")
