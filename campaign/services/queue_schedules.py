"""An engagement's quiet hours (`queue-schedule`, `queue-schedule-is-enabled`,
`fallback-timezone`): checked with compliance/quiet_hours.py into their stored form, each problem
an error at its member; and the texts a schedule held, woken when the settings change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from campaign.compliance.quiet_hours import DAY_NAMES, ScheduleError, parse_window, parse_zone
from campaign.errors import InvalidAttribute, pointer_to
from campaign.extensions import db
from campaign.models import Text, TextStatus, utcnow
from campaign.workers.rounds import RECIPIENT_ZONE
from campaign.workers.send_outcomes import QUIET_HOURS

QUEUE_SCHEDULE = "attributes/queue-schedule"
QUEUE_SCHEDULE_IS_ENABLED = "attributes/queue-schedule-is-enabled"
FALLBACK_TIMEZONE = "attributes/fallback-timezone"
SCHEDULE_MEMBERS = ("timezone", "start", "end", "days")
# The quiet-hours settings, by column: checked together, changed together.
QUIET_HOURS_SETTINGS = ("queue_schedule_is_enabled", "queue_schedule", "fallback_timezone")


def queue_schedule(value: object) -> dict[str, Any] | None:
    """`queue-schedule` checked (compliance/quiet_hours.py) and in its stored form: every member,
    `days` in week order (all seven when absent); each problem an error at its member."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidAttribute(
            "queue-schedule must be an object: {timezone, start, end, days}", at=QUEUE_SCHEDULE
        )
    for name in value:
        if name not in SCHEDULE_MEMBERS:
            raise InvalidAttribute(
                "a queue-schedule has only timezone, start, end and days",
                at=pointer_to(QUEUE_SCHEDULE, name),
            )
    zone = value.get("timezone")
    if zone != RECIPIENT_ZONE and not _is_zone(zone):
        required = "is required" if "timezone" not in value else "must be"
        raise InvalidAttribute(
            f'timezone {required} an IANA time zone name (e.g. "America/New_York") or '
            '"recipient" (each number\'s own zones)',
            at=f"{QUEUE_SCHEDULE}/timezone",
        )
    try:
        window = parse_window(value)
    except ScheduleError as exc:
        at = f"{QUEUE_SCHEDULE}/{exc.member}" if exc.member else QUEUE_SCHEDULE
        raise InvalidAttribute(str(exc), at=at) from None
    return {
        "timezone": zone,
        "start": f"{window.start:%H:%M}",
        "end": f"{window.end:%H:%M}",
        "days": [DAY_NAMES[day - 1] for day in sorted(window.days)],
    }


def checked_quiet_hours(current: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The quiet-hours settings `given`, checked, in their stored form; together with those
    `current` keeps they must make sense: enabling needs a schedule."""
    checked = dict(given)
    if "queue_schedule" in given:
        checked["queue_schedule"] = queue_schedule(given["queue_schedule"])
    if "fallback_timezone" in given and not _is_zone(given["fallback_timezone"]):
        raise InvalidAttribute(
            'fallback-timezone must be an IANA time zone name (e.g. "America/Chicago"): '
            "the zone of numbers that name none",
            at=FALLBACK_TIMEZONE,
        )
    settings = {**current, **checked}
    if settings["queue_schedule_is_enabled"] and settings["queue_schedule"] is None:
        # At what this request said: it enabled quiet hours, or it removed their schedule.
        enabled = given.get("queue_schedule_is_enabled")
        raise InvalidAttribute(
            "queue-schedule-is-enabled needs a queue-schedule: {timezone, start, end, days}",
            at=QUEUE_SCHEDULE_IS_ENABLED if enabled else QUEUE_SCHEDULE,
        )
    return checked


def _is_zone(name: object) -> bool:
    """Whether `name` is an IANA zone name the installed database lists."""
    if not isinstance(name, str):
        return False
    try:
        parse_zone(name)
    except ScheduleError:
        return False
    return True


def wake_held_texts(engagement_id: str) -> None:
    """The engagement's texts waiting `queued` for the opening of the window that held them are
    due again, so the next send jobs check each against the settings as they are now."""
    db.session.execute(
        update(Text)
        .where(
            Text.engagement_id == engagement_id,
            Text.status == TextStatus.QUEUED.value,
            Text.error_code == QUIET_HOURS,
        )
        .values(next_attempt_at=None, error_code=None, error_detail=None, updated_at=utcnow())
    )
