"""The run job: advances an engagement's due runs in batches (web calls, delayed steps), and
the wakes every run writer asks for once its transaction commits.

A run is due when its `next_step_at` has passed (docs/flows.md). The job claims up to
`RUN_BATCH` due runs of one engagement (`FOR UPDATE SKIP LOCKED`: two jobs never hold one run),
and for each performs its current step:
- a text step (one whose delay just ended): its text is created for the send path;
- a split: evaluated at once, and the run goes on (`run_steps.enter`);
- a web call: the claim is a lease, committed before the call: `next_step_at` moves past the
  call's timeout plus CAMPAIGN_STUCK_AFTER, so a worker killed mid-call leaves the run due
  again once the lease ends, and the call is made again with the same
  `Idempotency-Key: <envelope id>:<step>` for the receiver to recognise. The batch's calls go
  out concurrently (`web_calls.WebCaller`, at most CAMPAIGN_WEB_CALL_CONCURRENCY per host);
  their answers and where each run goes next commit together.

A job works for at most TIME_SLICE seconds, then enqueues its continuation, so one
engagement's slow web service never holds a worker from the others for long.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from campaign import transaction
from campaign.extensions import db
from campaign.flows import definitions
from campaign.flows.steps import Event
from campaign.models import Engagement, EngagementStatus, Envelope, EnvelopeStatus, utcnow
from campaign.models.activity import ActivityKind
from campaign.models.engagement import ACTIVE_STATUSES
from campaign.models.run_steps import (
    RUN_COLUMNS,
    Run,
    Settings,
    Wakes,
    activities_of,
    answer,
    enter,
    follow_texts,
    record,
    run_of,
    store,
)
from campaign.models.text_outcomes import Moved
from campaign.providers import receipt_url
from campaign.workers import job_ids, shutdown
from campaign.workers.progress import request_refresh
from campaign.workers.queues import SEND_QUEUE, enqueue_unique
from campaign.workers.web_calls import Call, Result, WebCaller

log = logging.getLogger(__name__)

TIME_SLICE = 10.0
RUN_BATCH = 500
# Wakes within one slot share a job (its id names the slot).
WAKE_SLOT = 0.25

_callers: dict[tuple[Any, ...], WebCaller] = {}


def settings(config: Any) -> Settings:
    """A run's bounds from the app's config; receipts come when the carrier has a URL for them."""
    return Settings(
        max_steps=config["MAX_RUN_STEPS"], receipts=receipt_url(config, "probe") is not None
    )


def wake(wakes: Wakes) -> None:
    """Once the current transaction commits: enqueue the send batches of the texts created and
    the run job of each engagement with runs made due."""
    if not wakes.sends and not wakes.runs:
        return
    generations = dict(
        db.session.execute(
            select(Engagement.id, Engagement.scheduled_at).where(
                Engagement.id.in_({key[0] for key in wakes.sends} | set(wakes.runs))
            )
        ).all()
    )

    def generation(engagement_id: str) -> str | None:
        scheduled_at = generations.get(engagement_id)
        return None if scheduled_at is None else str(int(scheduled_at.timestamp() * 1_000_000))

    sends = [
        (engagement_id, gen, activity_id, first, last)
        for (engagement_id, activity_id), (first, last) in wakes.sends.items()
        if (gen := generation(engagement_id)) is not None
    ]
    runs = [
        (engagement_id, gen, at)
        for engagement_id, at in wakes.runs.items()
        if (gen := generation(engagement_id)) is not None
    ]

    def enqueue() -> None:
        # Imported here: send.py imports this module's follow for its rounds.
        from campaign.workers.send import enqueue_send

        for engagement_id, gen, activity_id, first, last in sends:
            enqueue_send(
                engagement_id, gen, activity_id, first, last, continuation=str(time.time_ns())
            )
        for engagement_id, gen, at in runs:
            enqueue_runs(engagement_id, gen, at=at)

    transaction.after_commit(enqueue)


def follow(moved: Sequence[Moved], now: datetime, config: Any) -> None:
    """Runs of texts that moved go on where their triggers lead; their next steps are woken
    after the commit."""
    if moved:
        wake(follow_texts(moved, now, settings(config)))


def answer_reply(
    envelope_id: str, activity_id: str, step: int, body: str, now: datetime, config: Any
) -> None:
    """A recipient answered a run's text: its `text-reply` trigger leads on, woken after the
    commit."""
    wake(answer(envelope_id, activity_id, step, body, now, settings(config)))


def enqueue_runs(
    engagement_id: str, generation: str, *, at: datetime | None = None, continuation: str = ""
) -> bool:
    """Wake the run job of an engagement for runs due at `at` (now when None or past).

    Wakes due in the same WAKE_SLOT share one job. A later wake is scheduled at the whole
    second after it is due: RQ keeps scheduled times in whole seconds and may start a job up
    to a second early, when nothing would be due yet. `continuation` (a job's own next turn)
    gives a fresh id, since the job's own id is still taken while it runs.
    """
    now = time.time()
    due = max(now, at.timestamp()) if at is not None else now
    later = due > now + WAKE_SLOT
    if later:
        due = math.ceil(due)
    slot = str(int(due / WAKE_SLOT) + 1)
    return enqueue_unique(
        advance_runs,
        engagement_id,
        generation,
        queue=SEND_QUEUE,
        job_id=job_ids.runs(
            engagement_id, generation, f"{slot}-{continuation}" if continuation else slot
        ),
        at=datetime.fromtimestamp(due, UTC) if later else None,
    )


def _web_caller(config: Any) -> WebCaller:
    """One caller per worker process and settings: its connections and OAuth2 tokens outlive
    a job."""
    key = (
        config["WEB_CALL_ALLOW_HOSTS"] or frozenset(),
        config["WEB_CALL_CONCURRENCY"],
        config["MAX_META_BYTES"],
    )
    caller = _callers.get(key)
    if caller is None:
        for stale in _callers.values():
            stale.close()
        _callers.clear()
        caller = _callers[key] = WebCaller(
            allow_hosts=key[0], per_host=key[1], max_value_bytes=key[2]
        )
    return caller


@transaction.job
def advance_runs(engagement_id: str, generation: str) -> None:
    """Perform the engagement's due run steps until none is due or the time slice ends."""
    engagement = db.session.get(Engagement, engagement_id)
    if engagement is None or engagement.status not in ACTIVE_STATUSES:
        return
    if engagement.generation != generation:
        return
    config = current_app.config
    bounds = settings(config)
    total = engagement.count_total  # read now: the commits below expire the row
    transaction.commit()
    started = time.monotonic()
    while time.monotonic() - started < TIME_SLICE and not shutdown.requested():
        if not _heartbeat(engagement_id):
            return
        runs = _claim_due(engagement_id)
        if not runs:
            break
        _perform(runs, config, bounds)
    _continue_later(engagement_id, generation)
    request_refresh(engagement_id, total)


def _heartbeat(engagement_id: str) -> bool:
    from campaign.workers.send import heartbeat

    return heartbeat(engagement_id)


def _claim_due(engagement_id: str) -> list[Run]:
    now = utcnow()
    rows = db.session.execute(
        select(*RUN_COLUMNS)
        .where(
            Envelope.engagement_id == engagement_id,
            Envelope.next_step_at <= now,
            Envelope.exit_type.is_(None),
        )
        .order_by(Envelope.next_step_at)
        .limit(RUN_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    return [run_of(row) for row in rows]


def _perform(runs: list[Run], config: Any, bounds: Settings) -> None:
    """One batch: splits and text steps at once, web calls leased, made, and recorded."""
    now = utcnow()
    flow = activities_of({run.activity_id or "" for run in runs})
    calls: list[tuple[Run, Call]] = []
    settled: list[Run] = []
    first_steps = []
    for run in runs:
        activity = flow.get(run.activity_id or "")
        if run.status == EnvelopeStatus.PENDING:
            run.status = EnvelopeStatus.PROCESSING.value
            first_steps.append(run.envelope_id)
        if activity is None:
            run.path.append(_failure(run, "the run's activity no longer exists", now))
            run.exit_type, run.status, run.next_step_at = "failed", "failed", None
            settled.append(run)
        elif activity.kind == ActivityKind.WEB_CALL:
            call = definitions.web_call_of(activity.settings, activity.secrets)
            lease = float(call.timeout) + config["STUCK_AFTER"]
            run.next_step_at = now + timedelta(seconds=lease)
            calls.append(
                (
                    run,
                    Call(
                        key=f"{run.envelope_id}:{run.step}",
                        call=call,
                        variables=run.variables,
                        oauth2=definitions.oauth2_client_of(activity.settings, activity.secrets),
                        wanted=definitions.response_variables_of(activity.settings),
                    ),
                )
            )
        else:
            enter(run, activity, flow, now, bounds)
            settled.append(run)
    wake(store(settled, now))
    # A lease wakes nothing: should this worker die mid-call, the sweep finds the run due
    # again once its lease has ended.
    store([run for run, _ in calls], now)
    _mark_processed(first_steps, now)
    transaction.commit()  # the leases are stored before any call leaves
    db.session.close()  # no connection held while the calls are out
    if not calls:
        return
    results = _web_caller(config).call_many([call for _, call in calls])
    now = utcnow()
    holding = _still_leased([run for run, _ in calls])
    done = []
    for (run, _), result in zip(calls, results, strict=True):
        if run.envelope_id in holding:
            _record_call(run, result, flow, now, bounds)
            done.append(run)
    wake(store(done, now))
    transaction.commit()


def _still_leased(runs: list[Run]) -> set[str]:
    """The runs still at the step whose call was made, locked until the answers are stored.

    While the calls were out the engagement may have been cancelled (its runs ended) or, had
    this worker stalled past the lease, another job may have taken the step over: those runs
    are left as they are now, so a cancelled run never comes back to life.
    """
    steps = {run.envelope_id: run.step for run in runs}
    rows = db.session.execute(
        select(Envelope.id, Envelope.step)
        .where(Envelope.id.in_(list(steps)), Envelope.exit_type.is_(None))
        .with_for_update()
    ).all()
    return {envelope_id for envelope_id, step in rows if steps[envelope_id] == step}


def _mark_processed(envelope_ids: list[str], now: datetime) -> None:
    """`processed-at` of runs whose first step the job performs (a text's claim sets it for
    runs that start with a text)."""
    if envelope_ids:
        db.session.execute(
            update(Envelope)
            .where(Envelope.id.in_(envelope_ids), Envelope.processed_at.is_(None))
            .values(processed_at=now)
            .execution_options(synchronize_session=False)
        )


def _record_call(
    run: Run, result: Result, flow: dict[str, Any], now: datetime, bounds: Settings
) -> None:
    activity = flow[run.activity_id or ""]
    if result.success:
        for name, value in result.variables.items():
            run.values[name] = {"value": value, "activity": activity.id, "at": now.isoformat()}
        record(run, Event.WEB_CALL_SUCCESS, activity, flow, now, bounds, reason=None)
    else:
        record(run, Event.WEB_CALL_FAILURE, activity, flow, now, bounds, reason=result.reason)
    _mark_answer(run, activity.id, result)


def _mark_answer(run: Run, activity_id: str, result: Result) -> None:
    """The web call's answer status on its path entry (the last one at that activity)."""
    for entry in reversed(run.path):
        if entry.get("activity") == activity_id and entry.get("event", "").startswith("web-call"):
            entry["status"] = result.status
            return


def _failure(run: Run, reason: str, now: datetime) -> dict[str, Any]:
    return {
        "activity": run.activity_id,
        "step": run.step,
        "event": None,
        "at": now.isoformat(),
        "reason": reason,
    }


def _continue_later(engagement_id: str, generation: str) -> None:
    """Enqueue the job again for the next due run: now if some are due, else at the earliest."""
    earliest = db.session.scalar(
        select(func.min(Envelope.next_step_at)).where(
            Envelope.engagement_id == engagement_id, Envelope.exit_type.is_(None)
        )
    )
    status = db.session.scalar(select(Engagement.status).where(Engagement.id == engagement_id))
    transaction.commit()
    if earliest is None or status not in (EngagementStatus.SCHEDULED, EngagementStatus.SENDING):
        return
    enqueue_runs(engagement_id, generation, at=earliest, continuation=str(time.time_ns()))
