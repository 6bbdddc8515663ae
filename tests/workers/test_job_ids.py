"""campaign/workers/job_ids.py: every id as built, and what `parse` reads back from it."""

from __future__ import annotations

import pytest

from campaign.workers import job_ids
from campaign.workers.job_ids import JobId

ENGAGEMENT = "2JaPYmeypqD5WahptwJQ3v"


@pytest.mark.parametrize(
    ("built", "expected", "parsed"),
    [
        (job_ids.dispatch(ENGAGEMENT, "17"), f"dispatch-{ENGAGEMENT}-17", ("dispatch", ENGAGEMENT)),
        (
            job_ids.dispatch(ENGAGEMENT, "17", "sweep99"),
            f"dispatch-{ENGAGEMENT}-17-sweep99",
            ("dispatch", ENGAGEMENT),
        ),
        (
            job_ids.send(ENGAGEMENT, "17", "A1", "E1"),
            f"send-{ENGAGEMENT}-17-A1-E1",
            ("send", ENGAGEMENT),
        ),
        (
            job_ids.send(ENGAGEMENT, "17", "A1", "E1", "123"),
            f"send-{ENGAGEMENT}-17-A1-E1-123",
            ("send", ENGAGEMENT),
        ),
        (job_ids.runs(ENGAGEMENT, "17", "42"), f"runs-{ENGAGEMENT}-17-42", ("runs", ENGAGEMENT)),
        (
            job_ids.progress(ENGAGEMENT, 1796256761),
            f"progress-{ENGAGEMENT}-1796256761",
            ("progress", ENGAGEMENT),
        ),
        (job_ids.sweep(59), "sweep-59", ("sweep", None)),
    ],
)
def test_ids_are_built_and_read_back(
    built: str, expected: str, parsed: tuple[str, str | None]
) -> None:
    assert built == expected
    assert job_ids.parse(built) == JobId(*parsed)


@pytest.mark.parametrize("foreign", ["", "rq:job:x", "dispatch", "somethingelse-abc"])
def test_ids_of_no_campaign_kind_name_no_engagement(foreign: str) -> None:
    assert job_ids.parse(foreign).engagement_id is None


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("Worker w: dispatch: Job OK (sweep-59)", True),
        (f"job progress-{ENGAGEMENT}-1796256761 result is kept", True),
        (f"Worker w: send: Job OK (send-{ENGAGEMENT}-17-E1)", False),
        (f"dispatch-{ENGAGEMENT}-17", False),
    ],
)
def test_the_housekeeping_pattern_finds_only_housekeeping_ids(line: str, found: bool) -> None:
    assert bool(job_ids.housekeeping_pattern().search(line)) is found
