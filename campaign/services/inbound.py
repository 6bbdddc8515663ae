"""Texts recipients send us: stored once per carrier message, linked to the envelope that last
texted the sender, and their keywords honoured at once (docs/inbound.md).

Keywords (compliance/keywords.py) and what each does:
- opt-out (STOP, ...): the sender is opted out of the account (source `keyword`) and, when that
  is new, gets the account's opt-out confirmation; a repeated STOP from a number already opted
  out gets nothing more (it asked for no more texts).
- opt-in (START, YES, UNSTOP): an opted-out sender is opted back in and gets the confirmation.
  From a sender who is not opted out it changes nothing and is an ordinary reply: "YES" is a
  common answer to a flow's question, which must not be swallowed.
- help (HELP, INFO): the help text, at most once per HELP_COOLDOWN to a number, since every
  reply costs the account a text and a recipient may send HELP in a loop.
Each confirmation is an account-level text from the number that received the keyword, sent on
the reply queue ahead of any campaign (workers/replies.py).

A carrier that delivers the same message again (same carrier id) finds its row and changes
nothing: one row, one reply. The row, the opt-out and the reply's text commit together; the
reply's job is enqueued after the commit.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from campaign import transaction
from campaign.compliance.keywords import Keyword, classify
from campaign.extensions import db
from campaign.models import (
    NumberAllotment,
    OptOutSource,
    Text,
    TextDirection,
    TextStatus,
    new_id,
    utcnow,
)
from campaign.models.account_reply import reply_for
from campaign.models.base import insert_new
from campaign.providers.incoming import InboundText
from campaign.services.opt_outs import opt_in, record_opt_outs
from campaign.templates_engine.segments import count_segments
from campaign.workers.replies import enqueue_reply
from campaign.workers.runs import answer_reply

log = logging.getLogger(__name__)

HELP_COOLDOWN = timedelta(hours=1)
# An outbound text of these statuses has "texted" its recipient: the carrier has it or may.
_TEXTED = (
    TextStatus.SENDING.value,
    TextStatus.SENT.value,
    TextStatus.DELIVERED.value,
    TextStatus.UNDELIVERED.value,
    TextStatus.UNKNOWN.value,
)


def receive(inbound: InboundText) -> Text | None:
    """Store the text a recipient sent and do what its keyword asks; None when the number it
    was sent to is no account's (logged, not stored). `inbound.from_` and `.to` are E.164 when
    the carrier module could read them as numbers."""
    account_id = db.session.scalar(
        select(NumberAllotment.account_id).where(NumberAllotment.number == inbound.to)
    )
    if account_id is None:
        log.warning(
            "an incoming text to %r, a number no account holds, was not stored",
            inbound.to[:32],
            extra={"carrier_message_id": inbound.message_id},
        )
        return None
    now = utcnow()
    last = db.session.execute(
        select(Text.engagement_id, Text.envelope_id, Text.activity_id, Text.step)
        .where(
            Text.account_id == account_id,
            Text.to == inbound.from_,
            Text.from_ == inbound.to,
            Text.direction == TextDirection.OUTBOUND.value,
            Text.envelope_id.is_not(None),
            Text.status.in_(_TEXTED),
        )
        .order_by(Text.created_at.desc(), Text.id.desc())
        .limit(1)
    ).first()
    engagement_id, envelope_id, activity_id, step = last or (None, None, None, 1)
    text_id = new_id()
    insert_new(
        Text,
        [
            {
                "id": text_id,
                "account_id": account_id,
                "direction": TextDirection.INBOUND.value,
                "engagement_id": engagement_id,
                "envelope_id": envelope_id,
                "activity_id": activity_id,
                "step": step,
                "to": inbound.to,
                "from_": inbound.from_,
                "body": inbound.body,
                "status": TextStatus.RECEIVED.value,
                "segments": count_segments(inbound.body).segments,
                "provider_message_id": inbound.message_id,
                "retry_attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    stored = db.session.scalars(
        select(Text).where(
            Text.account_id == account_id,
            Text.direction == TextDirection.INBOUND.value,
            Text.provider_message_id == inbound.message_id,
        )
    ).one()
    if stored.id != text_id:
        return stored  # a repeated delivery: done the first time
    _honour(stored, classify(inbound.body), envelope_id)
    return stored


def _honour(received: Text, keyword: Keyword | None, envelope_id: str | None) -> None:
    """Do what the text asks: a keyword's opt-out, opt-in or help, else it answers a run."""
    account_id, sender = received.account_id, received.from_
    if keyword == Keyword.OPT_OUT:
        if record_opt_outs(account_id, [sender], OptOutSource.KEYWORD):
            _queue_reply(received, keyword)
        return
    if keyword == Keyword.OPT_IN and opt_in(account_id, sender):
        _queue_reply(received, keyword)
        return
    if keyword == Keyword.HELP:
        if not _helped_lately(received):
            _queue_reply(received, keyword)
        return
    if envelope_id is not None and received.activity_id is not None:
        answer_reply(
            envelope_id,
            received.activity_id,
            received.step,
            received.body or "",
            received.created_at,
            current_app.config,
        )


def _queue_reply(received: Text, keyword: Keyword) -> None:
    """The keyword's confirmation, from the number that received it, sent after the commit."""
    body = reply_for(received.account_id, keyword)
    reply = Text(
        id=new_id(),
        account_id=received.account_id,
        to=received.from_,
        from_=received.to,
        body=body,
        segments=count_segments(body).segments,
    )
    db.session.add(reply)
    reply_id = reply.id
    transaction.after_commit(lambda: enqueue_reply(reply_id))


def _helped_lately(received: Text) -> bool:
    """Whether the help text went to this number from this one within HELP_COOLDOWN."""
    body = reply_for(received.account_id, Keyword.HELP)
    return (
        db.session.scalar(
            select(Text.id)
            .where(
                Text.account_id == received.account_id,
                Text.to == received.from_,
                Text.from_ == received.to,
                Text.engagement_id.is_(None),
                Text.direction == TextDirection.OUTBOUND.value,
                Text.body == body,
                Text.created_at > utcnow() - HELP_COOLDOWN,
            )
            .limit(1)
        )
        is not None
    )
