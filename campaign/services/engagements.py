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
from sqlalchemy import exists, func, select, update

from campaign import transaction
from campaign.errors import ApiError, Conflict, InvalidAttribute
from campaign.extensions import db, redis_store
from campaign.models import (
    Account,
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
from campaign.models.engagement import ACTIVE_STATUSES, CLIENT_STATUSES
from campaign.services.locks import lock_row
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
) -> Engagement:
    """A new engagement, always `pending`: it has no activity or envelopes to send yet."""
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
    if current not in _EDITABLE_DELIVERY:
        key = next(iter(delivery)).replace("_", "-")
        raise Conflict(
            f"{key} can change only while the engagement is pending or paused",
            at=f"attributes/{key}",
        )
    for name, value in delivery.items():
        setattr(engagement, name, value)
    _check_delivery(engagement)


def _schedule(engagement: Engagement) -> None:
    """Check the engagement can send and record the schedule; the dispatcher wakes after the
    commit.

    The template row is locked (after the engagement's, always in that order) before the body
    is validated, so a body change cannot slip in between the check and the commit.
    """
    activity = engagement.activity
    if activity is not None and activity.text_template_id is not None:
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
    # Envelopes uploaded before the activity existed get it now, as Omnigage fills it in.
    db.session.execute(
        update(Envelope)
        .where(Envelope.engagement_id == engagement.id, Envelope.activity_id.is_(None))
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
    if activity.text_template is None or activity.phone_number is None:
        return [
            Conflict(
                "the engagement's activity has lost its text template or phone number",
                at=STATUS,
            )
        ]
    has_envelopes = db.session.scalar(
        select(exists().where(Envelope.engagement_id == engagement.id))
    )
    if not has_envelopes:
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
    # Envelopes whose text was cancelled, or that never got one, end cancelled too.
    db.session.execute(
        update(Envelope)
        .where(
            Envelope.engagement_id == engagement.id,
            Envelope.status.in_([EnvelopeStatus.PENDING.value, EnvelopeStatus.PROCESSING.value]),
            ~exists().where(
                Text.envelope_id == Envelope.id, Text.status != TextStatus.CANCELLED.value
            ),
        )
        .values(status=EnvelopeStatus.CANCELLED.value, completed_at=now, updated_at=now)
    )
