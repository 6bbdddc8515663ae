"""Creating, changing and deleting triggers (what follows an activity's event in a run), while
their engagement is pending.

Both ends of a trigger are activities of one engagement of the account; the event, category and
delay are checked against the activity it fires on by `flows/definitions.check_trigger`. The
engagement row is locked first (as `services/activities.py` does), so an activity cannot change
kind or rules, and the engagement cannot be scheduled, between the checks and the commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from campaign.errors import Conflict, InvalidAttribute, NotFound
from campaign.extensions import db
from campaign.flows import definitions
from campaign.models import Account, Activity, ActivityKind, Engagement, EngagementStatus
from campaign.models.trigger import NO_CATEGORY, Trigger, TriggerKind
from campaign.services.locks import lock_row

ACTIVITY = "relationships/activity/data"
NEXT_ACTIVITY = "relationships/next-activity/data"
_KINDS = ", ".join(repr(kind.value) for kind in TriggerKind)


def create_trigger(
    account: Account,
    *,
    activity: str,
    next_activity: str,
    on_event: Any = None,
    category: Any = None,
    delay_in_seconds: Any = None,
    kind: Any = TriggerKind.ACTIVITY.value,
) -> Trigger:
    """A trigger from `activity` to `next_activity` (ids) on `on_event` (and a split's
    `category`), after `delay_in_seconds` (0 when not given)."""
    _check_kind(kind)
    source = _activity(account, activity, ACTIVITY)
    target = _activity(account, next_activity, NEXT_ACTIVITY)
    source, target = _locked(source, target, at=ACTIVITY)
    event, found_category, delay = _checked(source, on_event, category, delay_in_seconds)
    _refuse_duplicate(source, event, found_category, None)
    trigger = Trigger(
        account_id=account.id,
        kind=TriggerKind.ACTIVITY.value,
        engagement_id=source.engagement_id,
        activity_id=source.id,
        next_activity_id=target.id,
        on_event=event,
        category=found_category or NO_CATEGORY,
        delay_in_seconds=delay,
    )
    db.session.add(trigger)
    db.session.flush()
    return trigger


def update_trigger(trigger: Trigger, changes: dict[str, Any]) -> Trigger:
    """Apply a PATCH: what is given replaces what is stored, and the result is checked whole."""
    if "kind" in changes:
        _check_kind(changes["kind"])
    account = db.session.get(Account, trigger.account_id)
    assert account is not None
    source_id = changes.get("activity", trigger.activity_id)
    target_id = changes.get("next_activity", trigger.next_activity_id)
    source = _activity(account, source_id, ACTIVITY)
    target = _activity(account, target_id, NEXT_ACTIVITY)
    if source.engagement_id != trigger.engagement_id:
        raise InvalidAttribute(
            "a trigger cannot move to another engagement's activity", at=ACTIVITY
        )
    source, target = _locked(source, target, at="")
    event, found_category, delay = _checked(
        source,
        changes.get("on_event", trigger.on_event),
        changes.get("category", trigger.shown_category),
        changes.get("delay_in_seconds", trigger.delay_in_seconds),
    )
    _refuse_duplicate(source, event, found_category, trigger.id)
    trigger.activity_id, trigger.next_activity_id = source.id, target.id
    trigger.on_event, trigger.category = event, found_category or NO_CATEGORY
    trigger.delay_in_seconds = delay
    return trigger


def delete_trigger(trigger: Trigger) -> None:
    """Delete a trigger of a pending engagement."""
    engagement = lock_row(Engagement, trigger.engagement_id)
    if engagement.status != EngagementStatus.PENDING:
        raise Conflict("a trigger can be deleted only while its engagement is pending", at="")
    db.session.delete(trigger)


def _check_kind(kind: Any) -> None:
    if kind not in {k.value for k in TriggerKind}:
        raise InvalidAttribute(
            f"unknown kind {str(kind)[:40]!r}; use one of {_KINDS}", at="attributes/kind"
        )


def _activity(account: Account, activity_id: Any, at: str) -> Activity:
    row = (
        db.session.scalar(
            select(Activity).where(Activity.id == activity_id, Activity.account_id == account.id)
        )
        if isinstance(activity_id, str) and "\x00" not in activity_id
        else None
    )
    if row is None:
        raise NotFound(f"no activity with id {activity_id!r} in this account", at=at)
    return row


def _locked(source: Activity, target: Activity, *, at: str) -> tuple[Activity, Activity]:
    """Both activities read again under their engagement's lock, once they are known to share
    it and it is pending."""
    if target.engagement_id != source.engagement_id:
        raise InvalidAttribute(
            "next-activity must be an activity of the same engagement as activity",
            at=NEXT_ACTIVITY,
        )
    engagement = lock_row(Engagement, source.engagement_id)
    if engagement.status != EngagementStatus.PENDING:
        raise Conflict("triggers can change only while their engagement is pending", at=at)
    # Activities change only under this lock (services/activities.py), so what is read now
    # holds until the commit.
    return _reread(source), _reread(target)


def _reread(activity: Activity) -> Activity:
    found = db.session.scalar(
        select(Activity).where(Activity.id == activity.id).execution_options(populate_existing=True)
    )
    if found is None:  # deleted while this request waited for the lock
        raise NotFound(f"no activity with id {activity.id!r} in this account", at=ACTIVITY)
    return found


def _checked(
    source: Activity, on_event: Any, category: Any, delay_in_seconds: Any
) -> tuple[str, str | None, int]:
    categories = None
    if source.kind == ActivityKind.SPLIT:
        categories = [rule["category"] for rule in (source.settings or {}).get("rules") or []]
    event, found_category, delay = definitions.check_trigger(
        on_event=on_event,
        category=category,
        delay_in_seconds=delay_in_seconds,
        source_kind=source.kind,
        categories=categories,
    )
    return event.value, found_category, delay


def _refuse_duplicate(
    source: Activity, event: str, category: str | None, trigger_id: str | None
) -> None:
    """One trigger per (activity, event, category): a run never forks."""
    statement = select(Trigger.id).where(
        Trigger.activity_id == source.id,
        Trigger.on_event == event,
        Trigger.category == (category or NO_CATEGORY),
    )
    if trigger_id is not None:
        statement = statement.where(Trigger.id != trigger_id)
    if db.session.scalar(statement.limit(1)) is not None:
        what = f"{event} ({category})" if category else event
        raise Conflict(
            f"the activity already has a trigger on {what}; change or delete that one",
            at="attributes/category" if category else "attributes/on-event",
        )
