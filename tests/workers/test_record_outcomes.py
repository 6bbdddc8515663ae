"""record_outcomes: a round's results stored in one call, a callback that overtook the send kept,
and envelopes kept in step (on Postgres as one statement over arrays, on SQLite row by row)."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update

from campaign.extensions import db
from campaign.models import Envelope, Text, TextStatus, utcnow
from campaign.models.text_outcomes import Moved, Outcome, advance_status, record_outcomes
from tests.client import ApiClient
from tests.factories import (
    BULK,
    build_seed_campaign,
    envelope,
    make_phone_number,
    schedule,
)
from tests.jobs import run_dispatch_only


def _claimed_texts(app: Flask, api: ApiClient, count: int) -> list[Text]:
    """`count` texts of a dispatched engagement, moved to `sending` as a send round would."""
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=1000)
    seed = build_seed_campaign(api, phone_id)
    extra = [
        envelope(seed.engagement_id, f"+1519555{i:04d}", {"first-name": "R"})
        for i in range(count - len(seed.envelope_ids))
    ]
    if extra:
        assert api.post("/api/v1/envelopes", {"data": extra}, headers=BULK).status == 201
    assert schedule(api, seed.engagement_id).status == 202
    run_dispatch_only(app)
    with app.app_context():
        db.session.execute(
            update(Text).values(status=TextStatus.SENDING.value, claimed_at=utcnow())
        )
        db.session.commit()
        texts = list(db.session.scalars(select(Text).order_by(Text.envelope_id)))
        db.session.expunge_all()
    assert len(texts) == count
    return texts


def _state(app: Flask) -> dict[str, tuple[object, ...]]:
    with app.app_context():
        texts = db.session.execute(
            select(
                Text.id,
                Text.status,
                Text.body,
                Text.segments,
                Text.provider_message_id,
                Text.error_code,
                Text.error_detail,
                Text.retry_attempts,
                Text.next_attempt_at,
                Text.sent_at,
                Text.claimed_at,
                Envelope.status,
                Envelope.retry_attempts,
                Envelope.completed_at,
            ).join(Envelope, Envelope.id == Text.envelope_id)
        ).all()
    return {row[0]: tuple(row[1:]) for row in texts}


def test_a_round_of_mixed_outcomes_is_stored_in_one_call(app: Flask, api: ApiClient) -> None:
    sent, retry, failed, unknown = _claimed_texts(app, api, 4)
    later = utcnow() + timedelta(seconds=30)
    with app.app_context():
        now = utcnow()
        moved = record_outcomes(
            [
                Outcome(sent.id, TextStatus.SENT, "Hi", 1, "SM1"),
                Outcome(
                    retry.id,
                    TextStatus.QUEUED,
                    "Hi ü",
                    1,
                    error_code="429",
                    error_detail="Too Many Requests",
                    retry_attempts=1,
                    next_attempt_at=later,
                ),
                Outcome(
                    failed.id,
                    TextStatus.FAILED,
                    error_code="missing-variable",
                    error_detail="first-name is missing",
                ),
                Outcome(unknown.id, TextStatus.UNKNOWN, "Hi", 1),
            ],
            now,
        )
        db.session.commit()
    state = _state(app)

    assert sorted(moved, key=lambda row: row.text_id) == sorted(
        [
            Moved(text.id, text.envelope_id, status, text.activity_id, 1)
            for text, status in (
                (sent, TextStatus.SENT),
                (retry, TextStatus.QUEUED),
                (failed, TextStatus.FAILED),
                (unknown, TextStatus.UNKNOWN),
            )
        ],
        key=lambda row: row.text_id,
    )
    assert state[sent.id][:4] == ("sent", "Hi", 1, "SM1")
    assert state[sent.id][8] is not None and state[sent.id][9] is None  # sent_at set, unclaimed
    assert state[sent.id][10:12] == ("completed", 0) and state[sent.id][12] is not None
    assert state[retry.id][:8] == (
        "queued",
        "Hi ü",
        1,
        None,
        "429",
        "Too Many Requests",
        1,
        later,
    )
    assert state[retry.id][10:] == ("processing", 1, None)
    assert state[failed.id][:6] == (
        "failed",
        None,
        None,
        None,
        "missing-variable",
        "first-name is missing",
    )
    assert state[failed.id][10] == "failed"
    assert state[unknown.id][0] == "unknown" and state[unknown.id][10] == "failed"
    assert all(row[8] is None for text_id, row in state.items() if text_id != sent.id)


def test_a_callback_that_overtook_the_send_keeps_its_status_and_error(
    app: Flask, api: ApiClient
) -> None:
    delivered, undelivered = _claimed_texts(app, api, 2)
    with app.app_context():
        # The carrier's reports arrive before the send round writes its own results.
        assert advance_status(delivered.id, TextStatus.DELIVERED, utcnow())
        assert advance_status(
            undelivered.id,
            TextStatus.UNDELIVERED,
            utcnow(),
            error_code="30003",
            error_detail="Unreachable destination handset",
        )
        db.session.commit()
        moved = record_outcomes(
            [
                Outcome(delivered.id, TextStatus.SENT, "Hi", 1, "SM1"),
                Outcome(undelivered.id, TextStatus.SENT, "Hi", 1, "SM2"),
            ],
            utcnow(),
        )
        db.session.commit()
    state = _state(app)

    assert moved == []  # the reports had moved them already

    assert state[delivered.id][:4] == ("delivered", "Hi", 1, "SM1")
    assert state[delivered.id][8] is not None  # sent_at filled in all the same
    assert state[delivered.id][10] == "completed"
    assert state[undelivered.id][:6] == (
        "undelivered",
        "Hi",
        1,
        "SM2",
        "30003",
        "Unreachable destination handset",
    )
    assert state[undelivered.id][10] == "failed"
