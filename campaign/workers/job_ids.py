"""Every RQ job id, built and read here and nowhere else (pure: no Redis, no database).

Ids are deterministic, so enqueueing the same work twice finds the first job (`unique=True`):

    dispatch-{engagement}-{generation}[-{rescue}]     the fan-out of one generation
    send-{engagement}-{generation}-{activity}-{first}[-{more}]
                                                      one batch of one text activity, from
                                                      envelope `first`
    runs-{engagement}-{generation}-{slot}             the run job, for runs due in a slot
    progress-{engagement}-{slot}                      the recount at the end of a slot
    sweep-{interval}                                  one sweep per CAMPAIGN_SWEEP_INTERVAL
    reply-{text}[-{more}]                             one auto-reply to a keyword

Engagement ids are base-58 (no `-`), so the engagement of any id is its second field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DISPATCH, SEND, RUNS, PROGRESS, SWEEP = "dispatch", "send", "runs", "progress", "sweep"
REPLY = "reply"
# The jobs that carry an engagement's sending work (what the sweep looks for in Redis).
SENDING_WORK = frozenset({DISPATCH, SEND, RUNS})
# Recurring bookkeeping: its RQ chatter is left out of the log (campaign/logs.py).
HOUSEKEEPING = frozenset({PROGRESS, SWEEP})


def dispatch(engagement_id: str, generation: str, rescue: str = "") -> str:
    return _joined(DISPATCH, engagement_id, generation, rescue)


def send(
    engagement_id: str, generation: str, activity_id: str, first: str, continuation: str = ""
) -> str:
    return _joined(SEND, engagement_id, generation, activity_id, first, continuation)


def runs(engagement_id: str, generation: str, slot: str) -> str:
    return _joined(RUNS, engagement_id, generation, slot)


def progress(engagement_id: str, slot: int) -> str:
    return _joined(PROGRESS, engagement_id, str(slot))


def sweep(interval: int) -> str:
    return _joined(SWEEP, str(interval))


def reply(text_id: str, continuation: str = "") -> str:
    return _joined(REPLY, text_id, continuation)


def _joined(*fields: str) -> str:
    return "-".join(field for field in fields if field)


@dataclass(frozen=True)
class JobId:
    kind: str
    engagement_id: str | None


def parse(job_id: str) -> JobId:
    """What a job id names: its kind, and its engagement when it has one."""
    kind, _, rest = job_id.partition("-")
    if kind in (DISPATCH, SEND, RUNS, PROGRESS) and rest:
        return JobId(kind, rest.split("-", 1)[0])
    return JobId(kind, None)


def housekeeping_pattern() -> re.Pattern[str]:
    """Matches a housekeeping job's id inside a line of text."""
    kinds = "|".join(sorted(HOUSEKEEPING))
    return re.compile(rf"\b(?:{kinds})-[\w-]+")
