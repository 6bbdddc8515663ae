"""Engagement verbs: create, change, and the client's status moves (schedule, pause, cancel).

A schedule enqueues the dispatcher after the request's commit (`transaction.after_commit`), so
a worker never reads an uncommitted schedule. A pause or cancel marks its generation stopped in
Redis before the commit, so senders hold what has not left; a rollback takes the mark back.
Error pointers are relative to the engagement's resource object.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import current_app
from sqlalchemy import exists, func, or_, select, update

from campaign import transaction
from campaign.errors import ApiError, Conflict, InvalidAttribute, NotFound
from campaign.extensions import db, redis_store
from campaign.flows.steps import ExitType
from campaign.models import (
    Account,
    Activity,
    ActivityKind,
    DeliveryType,
    Engagement,
    EngagementStatus,
    Envelope,
    EnvelopeStatus,
    InvalidTransition,
    Text,
    TextStatus,
    TextTemplate,
    utcnow,
)
from campaign.models.engagement import (
    ACTIVE_STATUSES,
    CLIENT_STATUSES,
    DEFAULT_FALLBACK_TIMEZONE,
)
from campaign.services.envelope_input import MAX_META_KEY_LENGTH
from campaign.services.locks import lock_row
from campaign.services.queue_schedules import (
    QUIET_HOURS_SETTINGS,
    checked_quiet_hours,
    wake_held_texts,
)
from campaign.templates_engine import compile_template
from campaign.workers.dispatch import dispatch_enqueuer
from campaign.workers.progress import request_refresh
from campaign.workers.stops import clear_stop, mark_stopped

STATUS = "attributes/status"
DELIVERY_TIME = "attributes/delivery-time"
# Delivery settings are frozen once the dispatcher may be working on the engagement.
_EDITABLE_DELIVERY = frozenset({EngagementStatus.PENDING, EngagementStatus.PAUSED})


def create_engagement(
    account: Account,
    *,
    name: str,
    direction: str = "outbound",
    delivery_type: str = DeliveryType.IMMEDIATELY.value,
    delivery_time: Any = None,
    status: str | None = None,
    expected_inputs: object = None,
    validity_period: int | None = None,
    queue_schedule_is_enabled: bool = False,
    queue_schedule: object = None,
    fallback_timezone: str = DEFAULT_FALLBACK_TIMEZONE,
) -> Engagement:
    """A new engagement, always `pending`: it has no activity or envelopes to send yet."""
    quiet_hours = {
        "queue_schedule_is_enabled": queue_schedule_is_enabled,
        "queue_schedule": queue_schedule,
        "fallback_timezone": fallback_timezone,
    }
    if status not in (None, EngagementStatus.PENDING.value):
        raise Conflict(
            "a new engagement is pending; add an activity and envelopes, then PATCH its status "
            "to scheduled",
            at=STATUS,
        )
    engagement = Engagement(
        account_id=account.id,
        name=name,
        direction=direction,
        delivery_type=delivery_type,
        delivery_time=delivery_time,
        status=EngagementStatus.PENDING.value,
        expected_inputs=_expected_inputs([] if expected_inputs is None else expected_inputs),
        validity_period=validity_period,
        **checked_quiet_hours(quiet_hours, quiet_hours),
    )
    _check_delivery(engagement)
    db.session.add(engagement)
    return engagement


def _check_delivery(engagement: Engagement) -> None:
    if engagement.delivery_type == DeliveryType.SCHEDULED and engagement.delivery_time is None:
        raise InvalidAttribute(
            "delivery-time is required when delivery-type is scheduled",
            at=DELIVERY_TIME,
        )


def update_engagement(engagement: Engagement, changes: dict[str, Any]) -> bool:
    """Apply a PATCH; True when it (newly or again) asks for dispatch, answered with 202.

    The row is locked by the caller (`SELECT ... FOR UPDATE`), so two PATCHes to `scheduled`
    cannot both see `pending` and start two dispatches.
    """
    target = changes.pop("status", None)
    current = EngagementStatus(engagement.status)
    if "activity" in changes:
        _set_entry(engagement, current, changes.pop("activity"))
    if "expected_inputs" in changes:
        changes["expected_inputs"] = _expected_inputs(changes["expected_inputs"])
    quiet_hours = {name: changes.pop(name) for name in QUIET_HOURS_SETTINGS if name in changes}
    if quiet_hours:
        _change_quiet_hours(engagement, current, quiet_hours)
    # Restating the current delivery settings (as a repeated request does) changes nothing.
    delivery = {
        key: value
        for key in ("delivery_type", "delivery_time")
        if key in changes and (value := changes.pop(key)) != getattr(engagement, key)
    }
    for name, value in changes.items():
        setattr(engagement, name, value)
    if delivery:
        _change_delivery(engagement, current, delivery)
    if target is None or target == current:
        return target == EngagementStatus.SCHEDULED
    if EngagementStatus(target) not in CLIENT_STATUSES:
        raise Conflict(f"status {target} is set by the dispatcher, not by clients", at=STATUS)
    if target == EngagementStatus.SCHEDULED and current == EngagementStatus.SENDING:
        return True  # already running: asking again changes nothing
    try:
        engagement.transition_to(EngagementStatus(target))
    except InvalidTransition as exc:
        raise Conflict(exc.detail, at=STATUS) from None
    if target == EngagementStatus.SCHEDULED:
        _schedule(engagement)
        return True
    if target == EngagementStatus.CANCELLED:
        _cancel_remaining(engagement)
    if current in ACTIVE_STATUSES:
        _stop_senders(engagement)
    if target == EngagementStatus.CANCELLED and engagement.count_total is not None:
        engagement_id, total = engagement.id, engagement.count_total
        transaction.after_commit(lambda: request_refresh(engagement_id, total))
    return False


MAX_EXPECTED_INPUTS = 100
ENTRY = "relationships/activity/data"


def _expected_inputs(names: object) -> list[str]:
    """`expected-inputs`: distinct meta names (exact case) every envelope must carry."""
    at = "attributes/expected-inputs"
    if not isinstance(names, list) or len(names) > MAX_EXPECTED_INPUTS:
        raise InvalidAttribute(
            f"expected-inputs is a list of at most {MAX_EXPECTED_INPUTS} meta names", at=at
        )
    for index, name in enumerate(names):
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_META_KEY_LENGTH:
            raise InvalidAttribute(
                f"each expected input is a meta name of 1 to {MAX_META_KEY_LENGTH} characters",
                at=f"{at}/{index}",
            )
        if name in names[:index]:
            raise InvalidAttribute(f"{name!r} is listed twice", at=f"{at}/{index}")
    return list(names)


def _change_quiet_hours(
    engagement: Engagement, current: EngagementStatus, given: dict[str, Any]
) -> None:
    """PATCH of the quiet-hours settings: only while pending or paused, as the delivery
    settings, since texts already held wait for the opening of the window they were held by.

    The texts waiting that way are made due again, so the resume's send jobs (a resume
    enqueues every batch afresh) check each against the new settings. Restating the current
    settings changes nothing and is allowed at any time.
    """
    stored = {name: getattr(engagement, name) for name in QUIET_HOURS_SETTINGS}
    checked = checked_quiet_hours(stored, given)
    changed = {name: value for name, value in checked.items() if value != stored[name]}
    if not changed:
        return
    _set_while_editable(engagement, current, changed, "; pause it first")
    wake_held_texts(engagement.id)


def _set_entry(engagement: Engagement, current: EngagementStatus, activity_id: object) -> None:
    """PATCH of the `activity` relationship: another of the engagement's activities becomes
    the entry, while the engagement is pending."""
    if current != EngagementStatus.PENDING:
        raise Conflict(
            "the entry activity can change only while the engagement is pending", at=ENTRY
        )
    activity = (
        db.session.scalar(
            select(Activity).where(
                Activity.id == activity_id, Activity.account_id == engagement.account_id
            )
        )
        if isinstance(activity_id, str)
        else None
    )
    if activity is None:
        raise NotFound(f"no activity with id {activity_id!r} in this account", at=ENTRY)
    if activity.engagement_id != engagement.id:
        raise InvalidAttribute("the entry must be one of this engagement's activities", at=ENTRY)
    engagement.activity = activity
    db.session.execute(
        update(Envelope)
        .where(Envelope.engagement_id == engagement.id, Envelope.step == 0)
        .values(activity_id=activity.id)
    )


def _stop_senders(engagement: Engagement) -> None:
    """Mark the running generation stopped before the commit; the answer follows both.

    The mark comes first, although Redis is otherwise written after the commit, because the
    PATCH must not answer while a sender could still hand a waiting text to the carrier; a
    transaction that does not commit takes the mark back. Without Redis the stop is refused
    and nothing changes.
    """
    generation = engagement.generation
    try:
        mark_stopped(
            redis_store.connection,
            engagement.id,
            generation,
            ttl=current_app.config["STUCK_AFTER"],
        )
    except redis.RedisError:
        raise ApiError(
            "the senders cannot be reached to stop them; nothing changed, try again",
            status=503,
            title="Service unavailable",
        ) from None
    engagement_id = engagement.id
    transaction.on_rollback(lambda: clear_stop(redis_store.connection, engagement_id, generation))


def _change_delivery(
    engagement: Engagement, current: EngagementStatus, delivery: dict[str, Any]
) -> None:
    _set_while_editable(engagement, current, delivery)
    _check_delivery(engagement)


def _set_while_editable(
    engagement: Engagement,
    current: EngagementStatus,
    changes: dict[str, Any],
    advice: str = "",
) -> None:
    """Set settings the dispatcher reads, which may change only while it cannot be working on
    the engagement (pending or paused): a 409 at the first one otherwise."""
    if current not in _EDITABLE_DELIVERY:
        key = next(iter(changes)).replace("_", "-")
        raise Conflict(
            f"{key} can change only while the engagement is pending or paused{advice}",
            at=f"attributes/{key}",
        )
    for name, value in changes.items():
        setattr(engagement, name, value)


def _schedule(engagement: Engagement) -> None:
    """Check the engagement can send and record the schedule; the dispatcher wakes after the
    commit.

    The template row is locked (after the engagement's, always in that order) before the body
    is validated, so a body change cannot slip in between the check and the commit.
    """
    for activity in engagement.activities:
        if activity.text_template_id is not None:
            lock_row(TextTemplate, activity.text_template_id)
    errors = scheduling_problems(engagement)
    if errors:
        raise errors[0]
    now = utcnow()
    if engagement.count_total is None:
        total = db.session.scalar(
            select(func.count()).where(Envelope.engagement_id == engagement.id)
        )
        # Until the first refresh every envelope is waiting: complete + incomplete + hold = total.
        engagement.count_total = engagement.count_hold = total
        engagement.count_complete = engagement.count_incomplete = 0
    activity = engagement.activity
    assert activity is not None
    # Envelopes whose run has not started are at the entry, as Omnigage fills it in.
    db.session.execute(
        update(Envelope)
        .where(
            Envelope.engagement_id == engagement.id,
            Envelope.step == 0,
            or_(Envelope.activity_id.is_(None), Envelope.activity_id != activity.id),
        )
        .values(activity_id=activity.id)
    )
    engagement.scheduled_at = now
    transaction.after_commit(dispatch_enqueuer(engagement))


def scheduling_problems(engagement: Engagement) -> list[ApiError]:
    """Why this engagement cannot be scheduled now (empty when it can)."""
    activity = engagement.activity
    if activity is None:
        return [
            Conflict(
                "the engagement has no activity; create a text activity first",
                at=STATUS,
            )
        ]
    for text in engagement.activities:
        if text.kind == ActivityKind.TEXT and (
            text.text_template is None or text.phone_number is None
        ):
            return [
                Conflict(
                    f"the engagement's text activity {text.name!r} has lost its text template "
                    "or phone number",
                    at=STATUS,
                )
            ]
    has_envelopes = db.session.scalar(
        select(exists().where(Envelope.engagement_id == engagement.id))
    )
    if not has_envelopes and not engagement.is_triggered:
        return [Conflict("the engagement has no envelopes; upload recipients first", at=STATUS)]
    if (
        engagement.delivery_type == DeliveryType.SCHEDULED
        and engagement.delivery_time
        and engagement.delivery_time <= utcnow()
    ):
        return [
            InvalidAttribute(
                "delivery-time is in the past; choose a future time or delivery-type immediately",
                at=DELIVERY_TIME,
            )
        ]
    if activity.kind != ActivityKind.TEXT or activity.text_template is None:
        return []  # later steps may use what web calls return: they fail one by one if not
    return _missing_variables(engagement, activity.text_template.body)


def _missing_variables(engagement: Engagement, body: str) -> list[ApiError]:
    """Refuse to send when envelopes lack meta keys the template needs, saying how many lack
    which, rather than failing those texts one by one later."""
    dialect = db.session.get_bind().dialect.name
    lacking = {}
    for key in compile_template(body).required_variables:
        count = db.session.scalar(
            select(func.count()).where(
                Envelope.engagement_id == engagement.id, Envelope.meta_lacks(key, dialect)
            )
        )
        if count:
            lacking[key] = count
    if not lacking:
        return []
    listing = ", ".join(f"{key!r} ({count} envelopes)" for key, count in lacking.items())
    return [
        Conflict(
            f"envelopes lack meta keys the template uses: {listing}; add them to the "
            "envelopes' meta or give the template a default "
            "(e.g. {{ first-name | default('there') }})",
            at=STATUS,
            title="Missing template variables",
        )
    ]


def _cancel_remaining(engagement: Engagement) -> None:
    """Everything not yet handed to a carrier is cancelled with the engagement."""
    now = utcnow()
    db.session.execute(
        update(Text)
        .where(Text.engagement_id == engagement.id, Text.status == TextStatus.QUEUED.value)
        .values(status=TextStatus.CANCELLED.value, next_attempt_at=None, updated_at=now)
    )
    # Runs that have not ended and whose current step the carrier does not hold (no text, or
    # the one just cancelled; a web call or a delay waiting) end cancelled too. A run whose text
    # the carrier has keeps going until that text settles, and then stops (follow_texts).
    db.session.execute(
        update(Envelope)
        .where(
            Envelope.engagement_id == engagement.id,
            Envelope.exit_type.is_(None),
            ~exists().where(
                Text.envelope_id == Envelope.id,
                Text.step == Envelope.step,
                Text.status != TextStatus.CANCELLED.value,
            ),
        )
        .values(
            status=EnvelopeStatus.CANCELLED.value,
            exit_type=ExitType.CANCELLED.value,
            next_step_at=None,
            completed_at=now,
            updated_at=now,
        )
    )
