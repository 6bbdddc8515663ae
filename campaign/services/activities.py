"""Creating and changing activities: the text an engagement sends, its template and its sender."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError

from campaign import transaction
from campaign.errors import ApiErrors, Conflict, InvalidAttribute, NotFound
from campaign.extensions import db
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


def _check_kind(kind: str) -> None:
    if kind in UNSUPPORTED_KINDS:
        raise InvalidAttribute(
            f"kind {kind!r} is not supported; this service sends text",
            at="attributes/kind",
            title="Not supported",
        )
    if kind != ActivityKind.TEXT:
        raise InvalidAttribute(f"unknown kind {kind!r}; use 'text'", at="attributes/kind")


def _resolve(account: Account, links: dict[str, str | None], required: bool) -> dict[str, Any]:
    """Look up each linked row in the account; one error per missing link, each with its pointer."""
    rows: dict[str, Any] = {}
    errors = []
    for name, model in _RELATED.items():
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


def create_activity(account: Account, *, name: str, kind: str, **links: str) -> Activity:
    """A text activity for a pending engagement, with its template and sender."""
    _check_kind(kind)
    rows = _resolve(account, links, required=True)
    # Locked and re-read, so of concurrent creates for one engagement the later ones wait and
    # then find the first one's activity.
    engagement: Engagement = lock_row(Engagement, rows["engagement"].id)
    if engagement.status != EngagementStatus.PENDING:
        raise Conflict(
            "activities can be added only while the engagement is pending",
            at=_at("engagement"),
        )
    if engagement.activity is not None:
        raise _already_has_activity()
    activity = Activity(
        account_id=account.id,
        name=name,
        kind=kind,
        engagement_id=engagement.id,
        text_template_id=rows["text_template"].id,
        phone_number_id=rows["phone_number"].id,
    )
    db.session.add(activity)
    engagement_id = engagement.id
    try:
        db.session.flush()
    except IntegrityError:
        # The lock makes this rare (SQLite ignores it); the unique engagement id has the last
        # word. Any other violation is not a conflict this can explain: it stays a 500. The
        # request fails either way: its transaction ends here, so the check reads afresh.
        transaction.rollback()
        if db.session.scalar(select(exists().where(Activity.engagement_id == engagement_id))):
            raise _already_has_activity() from None
        raise
    # Envelopes uploaded before the activity existed belong to it from now on.
    db.session.execute(
        update(Envelope)
        .where(Envelope.engagement_id == engagement.id, Envelope.activity_id.is_(None))
        .values(activity_id=activity.id)
    )
    return activity


def _already_has_activity() -> Conflict:
    return Conflict(
        "this engagement already has an activity; PATCH that one instead",
        at=_at("engagement"),
    )


def update_activity(activity: Activity, changes: dict[str, Any]) -> Activity:
    """Change name, template or sender while the engagement has not started."""
    if "engagement" in changes:
        raise Conflict("an activity cannot move to another engagement", at=_at("engagement"))
    if "kind" in changes:
        _check_kind(changes.pop("kind"))
    links = {
        name: changes.pop(name) for name in ("text_template", "phone_number") if name in changes
    }
    # The engagement is locked and re-read first, so its scheduling cannot pass between this
    # check and the commit (scheduling validates the template and sender it finds).
    engagement = lock_row(Engagement, activity.engagement_id)
    if links and engagement.status != EngagementStatus.PENDING:
        raise Conflict(
            "the template and sender can change only while the engagement is pending",
            at=_at(next(iter(links))),
        )
    account = db.session.get(Account, activity.account_id)
    assert account is not None
    for name, row in _resolve(account, links, required=False).items():
        setattr(activity, f"{name}_id", row.id)
    for name, value in changes.items():
        setattr(activity, name, value)
    return activity


def delete_activity(activity: Activity) -> None:
    """Delete the activity of a pending engagement (its engagement locked first, as above)."""
    if lock_row(Engagement, activity.engagement_id).status != EngagementStatus.PENDING:
        raise Conflict("an activity can be deleted only while its engagement is pending", at="")
    db.session.delete(activity)
