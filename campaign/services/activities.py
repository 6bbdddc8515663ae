"""Creating and changing activities: an engagement's steps (a text with its template and
sender, a web call, a split), while the engagement is pending. The first one created is the
engagement's entry unless the engagement is PATCHed to another."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from campaign.errors import ApiErrors, Conflict, InvalidAttribute, NotFound
from campaign.extensions import db
from campaign.flows import definitions
from campaign.models import (
    Account,
    Activity,
    ActivityKind,
    Engagement,
    EngagementStatus,
    Envelope,
    PhoneNumber,
    TextTemplate,
)
from campaign.models.activity import UNSUPPORTED_KINDS
from campaign.services.locks import lock_row

_RELATED = {
    "engagement": Engagement,
    "text_template": TextTemplate,
    "phone_number": PhoneNumber,
}


def _at(relationship: str) -> str:
    return f"relationships/{relationship.replace('_', '-')}/data"


_KINDS = ", ".join(repr(kind.value) for kind in ActivityKind)
_FLOW_ATTRIBUTES = {
    ActivityKind.TEXT: frozenset(),
    ActivityKind.WEB_CALL: definitions.WEB_CALL_ATTRIBUTES,
    ActivityKind.SPLIT: definitions.SPLIT_ATTRIBUTES,
}


def _check_kind(kind: str) -> ActivityKind:
    if kind in UNSUPPORTED_KINDS:
        raise InvalidAttribute(
            f"kind {kind!r} is not supported; this service sends text, web calls and splits",
            at="attributes/kind",
            title="Not supported",
        )
    if kind not in {k.value for k in ActivityKind}:
        raise InvalidAttribute(f"unknown kind {kind!r}; use one of {_KINDS}", at="attributes/kind")
    return ActivityKind(kind)


def _settings(
    kind: ActivityKind, flow: dict[str, Any], activity: Activity | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The kind's own attributes validated (merged over the stored ones on a PATCH of the
    same kind); attributes of another kind are refused, naming the kind they belong to."""
    for name in flow:
        if name not in _FLOW_ATTRIBUTES[kind]:
            owner = next((k for k, names in _FLOW_ATTRIBUTES.items() if name in names), None)
            raise InvalidAttribute(
                f"{name} is an attribute of a {owner.value} activity, not of a {kind.value} one",
                at=f"attributes/{name}",
            )
    same = activity is not None and activity.kind == kind
    stored = (activity.settings if same else None) if activity is not None else None
    secrets = (activity.secrets if same else None) if activity is not None else None
    if kind == ActivityKind.WEB_CALL:
        return definitions.web_call_settings(flow, stored, secrets)
    if kind == ActivityKind.SPLIT:
        return definitions.split_settings(flow, stored), {}
    return {}, {}


def _resolve(
    account: Account,
    links: dict[str, str | None],
    required: bool,
    names: tuple[str, ...] = tuple(_RELATED),
) -> dict[str, Any]:
    """Look up each linked row in the account; one error per missing link, each with its pointer."""
    rows: dict[str, Any] = {}
    errors = []
    for name, model in _RELATED.items():
        if name not in names:
            continue
        if name not in links:
            if required:
                errors.append(
                    InvalidAttribute(
                        f"the {name.replace('_', '-')} relationship is "
                        "required for a text activity",
                        at=_at(name),
                    )
                )
            continue
        row_id = links[name]
        row = (
            None
            if row_id is None
            else db.session.scalar(
                select(model).where(model.id == row_id, model.account_id == account.id)
            )
        )
        if row is None:
            errors.append(
                NotFound(
                    f"no {model.__tablename__.replace('_', '-')} with id "
                    f"{row_id!r} in this account",
                    at=_at(name),
                )
            )
        rows[name] = row
    if errors:
        raise ApiErrors(errors)
    return rows


def create_activity(
    account: Account, *, name: str, kind: str, flow: dict[str, Any] | None = None, **links: str
) -> Activity:
    """An activity for a pending engagement: a text with its template and sender, or a web call
    or split with its `flow` attributes (JSON:API names); the engagement's entry if it has none."""
    activity_kind = _check_kind(kind)
    if activity_kind != ActivityKind.TEXT:
        _refuse_text_links(activity_kind, links)
        engagement_only = {"engagement": links["engagement"]} if "engagement" in links else {}
        rows = _resolve(account, engagement_only, required=True, names=("engagement",))
    else:
        rows = _resolve(account, links, required=True)
    settings, secrets = _settings(activity_kind, dict(flow or {}), None)
    # Locked and re-read, so of concurrent creates for one engagement the later ones wait and
    # then find the first one's activity.
    engagement: Engagement = lock_row(Engagement, rows["engagement"].id)
    if engagement.status != EngagementStatus.PENDING:
        raise Conflict(
            "activities can be added only while the engagement is pending",
            at=_at("engagement"),
        )
    activity = Activity(
        account_id=account.id,
        name=name,
        kind=kind,
        engagement_id=engagement.id,
        text_template_id=rows["text_template"].id if "text_template" in rows else None,
        phone_number_id=rows["phone_number"].id if "phone_number" in rows else None,
        settings=settings,
        secrets=secrets,
    )
    db.session.add(activity)
    db.session.flush()
    if engagement.activity_id is None:
        # The first activity is the entry (the engagement row is locked above, so of two
        # concurrent creates only the first finds none); envelopes uploaded before it belong
        # to it from now on.
        engagement.activity = activity
        db.session.execute(
            update(Envelope)
            .where(Envelope.engagement_id == engagement.id, Envelope.activity_id.is_(None))
            .values(activity_id=activity.id)
        )
    return activity


def _refuse_text_links(kind: ActivityKind, links: dict[str, Any]) -> None:
    """A web call or split sends nothing: a template or sender given to one is a mistake."""
    for name in ("text_template", "phone_number"):
        if name in links:
            raise InvalidAttribute(
                f"a {kind.value} activity has no {name.replace('_', '-')}", at=_at(name)
            )


def update_activity(
    activity: Activity, changes: dict[str, Any], flow: dict[str, Any] | None = None
) -> Activity:
    """Change name, kind, template, sender or a web call's or split's attributes while the
    engagement has not started."""
    if "engagement" in changes:
        raise Conflict("an activity cannot move to another engagement", at=_at("engagement"))
    kind = _check_kind(changes.pop("kind")) if "kind" in changes else ActivityKind(activity.kind)
    flow = dict(flow or {})
    links = {
        name: changes.pop(name) for name in ("text_template", "phone_number") if name in changes
    }
    if kind != ActivityKind.TEXT:
        _refuse_text_links(kind, links)
    # The engagement is locked and re-read first, so its scheduling cannot pass between this
    # check and the commit (scheduling validates the template and sender it finds).
    engagement = lock_row(Engagement, activity.engagement_id)
    if links and engagement.status != EngagementStatus.PENDING:
        raise Conflict(
            "the template and sender can change only while the engagement is pending",
            at=_at(next(iter(links))),
        )
    if (flow or kind != activity.kind) and engagement.status != EngagementStatus.PENDING:
        raise Conflict(
            "an activity's kind and settings can change only while the engagement is pending",
            at=f"attributes/{next(iter(flow), 'kind')}",
        )
    if flow or kind != activity.kind:
        activity.settings, activity.secrets = _settings(kind, flow, activity)
        activity.kind = kind.value
        if kind != ActivityKind.TEXT:
            activity.text_template_id = activity.phone_number_id = None
    account = db.session.get(Account, activity.account_id)
    assert account is not None
    for name, row in _resolve(account, links, required=False).items():
        setattr(activity, f"{name}_id", row.id)
    for name, value in changes.items():
        setattr(activity, name, value)
    return activity


def delete_activity(activity: Activity) -> None:
    """Delete the activity of a pending engagement (its engagement locked first, as above)."""
    engagement = lock_row(Engagement, activity.engagement_id)
    if engagement.status != EngagementStatus.PENDING:
        raise Conflict("an activity can be deleted only while its engagement is pending", at="")
    was_entry = engagement.activity_id == activity.id
    if was_entry:
        engagement.activity = None
        db.session.flush()
    db.session.delete(activity)
    db.session.flush()
    if was_entry:
        # The next activity in creation order becomes the entry, as if it had been first.
        engagement.activity = db.session.scalar(
            select(Activity)
            .where(Activity.engagement_id == engagement.id)
            .order_by(Activity.created_at, Activity.id)
            .limit(1)
        )
