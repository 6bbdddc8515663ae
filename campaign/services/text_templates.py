"""Creating and changing text templates; every body is compiled (so vetted) before it is kept."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from campaign.errors import Conflict, InvalidAttribute
from campaign.extensions import db
from campaign.models import Account, Activity, TextTemplate
from campaign.services.locks import lock_row
from campaign.templates_engine import TemplateError, compile_template

BODY = "attributes/body"


def _variables(body: str) -> list[str]:
    try:
        return list(compile_template(body).variables)
    except TemplateError as exc:
        raise InvalidAttribute(str(exc), at=BODY, title="Invalid template") from None


def create_text_template(account: Account, *, name: str, body: str) -> TextTemplate:
    """Validate the body and record the variables it reads."""
    template = TextTemplate(account_id=account.id, name=name, body=body, variables=_variables(body))
    db.session.add(template)
    return template


def _in_use(template: TextTemplate) -> bool:
    return bool(
        db.session.scalar(select(Activity.sends_with(Activity.text_template_id, template.id)))
    )


def update_text_template(template: TextTemplate, changes: dict[str, Any]) -> TextTemplate:
    """Change name or body; the body is frozen while an engagement renders it.

    The row is locked before the check, as scheduling locks it before validating the body:
    either the change commits first and scheduling validates the new body, or scheduling
    commits first and this finds the template in use.
    """
    lock_row(TextTemplate, template.id)
    if "body" in changes and changes["body"] != template.body:
        if _in_use(template):
            raise Conflict(
                "this template is being sent by an engagement that is scheduled, sending or "
                "paused; its body cannot change until that engagement ends",
                at=BODY,
            )
        template.variables = _variables(changes["body"])
    for name, value in changes.items():
        setattr(template, name, value)
    return template


def delete_text_template(template: TextTemplate) -> None:
    """Delete a template that no running engagement renders (locked first, as above)."""
    lock_row(TextTemplate, template.id)
    if _in_use(template):
        raise Conflict(
            "this template is being sent by an engagement that is scheduled, sending or paused",
            at="",
        )
    db.session.delete(template)
