"""The one write path of a run's steps: where a run goes after an event, stored in bulk.

A run is its envelope (docs/flows.md). Three writers move runs, all through here:
- the send path, once texts moved (`follow_texts`, after `text_outcomes.sync_envelopes` has
  recorded the text's event and, for a run whose last step it is, its exit);
- the run job, after a web call's answer or for a step whose delay is over (`proceed`,
  `enter`, then `store`);
- the start of a run: dispatch for an engagement's envelopes, or an envelope POSTed to a
  triggered engagement (`start`).

Entering an activity: a `text` creates the step's text (`queued`, unique per envelope and
step, so a repeated advance creates nothing) for the send path; a `split` is evaluated at once
(pure, `flows/splits.py`) and the run goes on; a `web-call`, or any step with a delay, is made
due (`next_step_at`) for the run job. What must be woken after the commit is returned as
`Wakes`; models never enqueue.

Activities and their triggers are read once per process (`activities_of`): they can change
only while their engagement is pending, and runs only move once it has been scheduled.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from campaign.extensions import db
from campaign.flows import definitions, splits, steps
from campaign.flows.steps import Event, ExitType
from campaign.models.activity import Activity, ActivityKind
from campaign.models.base import insert_new, new_ids
from campaign.models.envelope import Envelope, EnvelopeStatus, run_variables
from campaign.models.phone_number import PhoneNumber
from campaign.models.text import EVENT, Text, TextStatus
from campaign.models.text_outcomes import Moved
from campaign.models.trigger import Trigger

ENVELOPE_STATUS_OF_EXIT: dict[ExitType, EnvelopeStatus] = {
    ExitType.COMPLETED: EnvelopeStatus.COMPLETED,
    ExitType.FAILED: EnvelopeStatus.FAILED,
    ExitType.CANCELLED: EnvelopeStatus.CANCELLED,
}
# Engagements whose flows a process keeps (each a handful of activities).
_CACHED_ENGAGEMENTS = 1024


@dataclass(frozen=True)
class ActivityInfo:
    """What runs need of an activity, read once."""

    id: str
    engagement_id: str
    kind: str
    name: str
    sender: str | None
    settings: dict[str, Any]
    secrets: dict[str, str]
    triggers: tuple[steps.Trigger, ...]


# engagement id -> its activities by id; activity id -> its engagement id.
_flows: OrderedDict[str, dict[str, ActivityInfo]] = OrderedDict()
_engagement_of: dict[str, str] = {}


def activities_of(activity_ids: Iterable[str]) -> dict[str, ActivityInfo]:
    """Every activity (with its triggers) of the engagements of these activities, by id: a run
    at one of them may go to any other."""
    wanted = {activity_id for activity_id in activity_ids if activity_id}
    missing = {activity_id for activity_id in wanted if activity_id not in _engagement_of}
    if missing:
        _load(missing)
    found: dict[str, ActivityInfo] = {}
    for engagement_id in {_engagement_of[a] for a in wanted if a in _engagement_of}:
        _flows.move_to_end(engagement_id)
        found.update(_flows[engagement_id])
    return found


def _load(activity_ids: set[str]) -> None:
    engagements = select(Activity.engagement_id).where(Activity.id.in_(activity_ids))
    rows = db.session.execute(
        select(Activity, PhoneNumber.number)
        .outerjoin(PhoneNumber, PhoneNumber.id == Activity.phone_number_id)
        .where(Activity.engagement_id.in_(engagements))
    ).all()
    triggers: dict[str, list[steps.Trigger]] = {}
    for trigger in db.session.scalars(
        select(Trigger).where(Trigger.engagement_id.in_(engagements))
    ):
        triggers.setdefault(trigger.activity_id, []).append(
            steps.Trigger(
                Event(trigger.on_event),
                trigger.next_activity_id,
                trigger.category or None,
                trigger.delay_in_seconds,
            )
        )
    for activity, sender in rows:
        _flows.setdefault(activity.engagement_id, {})[activity.id] = ActivityInfo(
            activity.id,
            activity.engagement_id,
            activity.kind,
            activity.name,
            sender,
            dict(activity.settings or {}),
            dict(activity.secrets or {}),
            tuple(triggers.get(activity.id, ())),
        )
        _engagement_of[activity.id] = activity.engagement_id
    while len(_flows) > _CACHED_ENGAGEMENTS:
        _, evicted = _flows.popitem(last=False)
        for activity_id in evicted:
            _engagement_of.pop(activity_id, None)


@dataclass
class Run:
    """One envelope's run, as read for a step and written back by `store`."""

    envelope_id: str
    engagement_id: str
    account_id: str
    phone_number: str
    activity_id: str | None
    step: int
    meta: dict[str, Any]
    values: dict[str, Any]
    path: list[dict[str, Any]]
    status: str
    exit_type: str | None = None
    next_step_at: datetime | None = None
    # Set when the run entered a text step now: `store` creates the step's text.
    text_due: bool = False

    @property
    def variables(self) -> dict[str, Any]:
        return run_variables(self.meta, self.values)


RUN_COLUMNS = (
    Envelope.id,
    Envelope.engagement_id,
    Envelope.account_id,
    Envelope.phone_number,
    Envelope.activity_id,
    Envelope.step,
    Envelope.meta,
    Envelope.values,
    Envelope.path,
    Envelope.status,
    Envelope.exit_type,
    Envelope.next_step_at,
)


def run_of(row: Sequence[Any]) -> Run:
    """A Run from a row of RUN_COLUMNS."""
    return Run(
        row[0], row[1], row[2], row[3], row[4], row[5],
        dict(row[6] or {}), dict(row[7] or {}), list(row[8] or []),
        row[9], row[10], row[11],
    )  # fmt: skip


@dataclass
class Wakes:
    """What to wake once the transaction commits: send batches and the run job."""

    # (engagement, activity) -> the first and last envelope ids of the texts created.
    sends: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    # engagement -> the earliest `next_step_at` made due.
    runs: dict[str, datetime] = field(default_factory=dict)

    def send(self, engagement_id: str, activity_id: str, envelope_id: str) -> None:
        key = (engagement_id, activity_id)
        first, last = self.sends.get(key, (envelope_id, envelope_id))
        self.sends[key] = (min(first, envelope_id), max(last, envelope_id))

    def run(self, engagement_id: str, at: datetime) -> None:
        self.runs[engagement_id] = min(at, self.runs.get(engagement_id, at))

    def merge(self, other: Wakes) -> None:
        for (engagement_id, activity_id), (first, last) in other.sends.items():
            self.send(engagement_id, activity_id, first)
            self.send(engagement_id, activity_id, last)
        for engagement_id, at in other.runs.items():
            self.run(engagement_id, at)


@dataclass(frozen=True)
class Settings:
    """The bounds of a run, from the app's config."""

    max_steps: int
    receipts: bool


def record(
    run: Run,
    event: Event,
    activity: ActivityInfo,
    flow: dict[str, ActivityInfo],
    now: datetime,
    settings: Settings,
    *,
    category: str | None = None,
    reason: str | None = None,
    in_path: bool = True,
) -> None:
    """The run's step at `activity` ended with `event`: write it into the path (unless the
    text path already did) and go where the activity's triggers lead."""
    if in_path:
        run.path.append(
            {
                "activity": activity.id,
                "step": run.step,
                "event": event.value,
                "at": now.isoformat(),
                "reason": reason,
                **({"category": category} if category is not None else {}),
            }
        )
    decision = steps.after(
        event,
        activity.triggers,
        step=run.step,
        max_steps=settings.max_steps,
        category=category,
        receipts=settings.receipts,
        reason=reason,
    )
    if isinstance(decision, steps.Wait):
        run.status, run.exit_type, run.next_step_at = EnvelopeStatus.PROCESSING.value, None, None
    elif isinstance(decision, steps.Exit):
        finish(run, decision.exit_type)
        if decision.reason and run.path and run.path[-1].get("reason") != decision.reason:
            run.path[-1]["reason"] = decision.reason
    else:
        run.activity_id, run.step = decision.activity_id, decision.step
        run.status, run.exit_type = EnvelopeStatus.PROCESSING.value, None
        target = flow.get(decision.activity_id)
        if target is None:
            finish(run, ExitType.FAILED)
            run.path.append(_lost(decision.activity_id, run.step, now))
        elif decision.delay_in_seconds:
            run.next_step_at = now + timedelta(seconds=decision.delay_in_seconds)
        else:
            enter(run, target, flow, now, settings)


def finish(run: Run, exit_type: ExitType) -> None:
    run.exit_type = exit_type.value
    run.status = ENVELOPE_STATUS_OF_EXIT[exit_type].value
    run.next_step_at = None


def enter(
    run: Run,
    activity: ActivityInfo,
    flow: dict[str, ActivityInfo],
    now: datetime,
    settings: Settings,
) -> None:
    """Perform the run's current step at `activity` as far as it can be without the network:
    a text is created by `store`, a split evaluated now, a web call made due for the run job."""
    run.next_step_at = None
    if activity.kind == ActivityKind.TEXT:
        run.text_due = True
    elif activity.kind == ActivityKind.SPLIT:
        variable, rules = definitions.split_of(activity.settings)
        category = splits.categorise(run.variables.get(variable), rules)
        run.values[activity.name] = {
            "value": category,
            "activity": activity.id,
            "at": now.isoformat(),
        }
        record(run, Event.SPLIT, activity, flow, now, settings, category=category)
    else:
        run.next_step_at = now


def _lost(activity_id: str, step: int, now: datetime) -> dict[str, Any]:
    return {
        "activity": activity_id,
        "step": step,
        "event": None,
        "at": now.isoformat(),
        "reason": "the next activity no longer exists",
    }


def start(runs: Sequence[Run], entry: ActivityInfo, now: datetime, settings: Settings) -> Wakes:
    """Begin these runs (at step 0) at the engagement's entry activity, and store them."""
    flow = activities_of([entry.id])
    for run in runs:
        run.activity_id, run.step = entry.id, 1
        enter(run, entry, flow, now, settings)
    return store(runs, now)


def follow_texts(moved: Sequence[Moved], now: datetime, settings: Settings) -> Wakes:
    """Take the runs of texts that moved on where their activities' triggers lead.

    `sync_envelopes` has already written the text's event into the path and, as if it were the
    run's last step, its exit; runs whose activity has no trigger are left as it wrote them,
    with no further query (the plain campaign's every text).
    """
    flow = activities_of({item.activity_id for item in moved})
    relevant = [
        item
        for item in moved
        if item.status in EVENT and (info := flow.get(item.activity_id)) and info.triggers
    ]
    if not relevant:
        return Wakes()
    runs = {
        row[0]: run_of(row)
        for row in db.session.execute(
            select(*RUN_COLUMNS).where(Envelope.id.in_([item.envelope_id for item in relevant]))
        ).all()
    }
    flow = activities_of(
        {item.activity_id for item in relevant} | {r.activity_id or "" for r in runs.values()}
    )
    changed = []
    for item in relevant:
        run = runs.get(item.envelope_id)
        if run is None or run.step != item.step or run.activity_id != item.activity_id:
            continue  # the run is past that step (a late receipt)
        record(run, EVENT[item.status], flow[item.activity_id], flow, now, settings, in_path=False)
        changed.append(run)
    return store(changed, now)


# The run variable a recipient's answer to a text step is stored under.
REPLY_VARIABLE = "reply"


def answer(
    envelope_id: str, activity_id: str, step: int, body: str, now: datetime, settings: Settings
) -> Wakes:
    """The recipient answered the text of `step` at `activity_id`: when the run still waits
    there (its activity has a `text-reply` trigger), the answer becomes the run's `reply`
    variable and the trigger leads on. An answer to a run past that step changes nothing."""
    row = db.session.execute(
        select(*RUN_COLUMNS).where(Envelope.id == envelope_id).with_for_update()
    ).first()
    if row is None:
        return Wakes()
    run = run_of(row)
    flow = activities_of([activity_id])
    activity = flow.get(activity_id)
    waiting = run.exit_type is None and run.next_step_at is None
    if (
        activity is None
        or not waiting
        or run.activity_id != activity_id
        or run.step != step
        or not any(trigger.on_event == Event.TEXT_REPLY for trigger in activity.triggers)
    ):
        return Wakes()
    run.values[REPLY_VARIABLE] = {"value": body, "activity": activity_id, "at": now.isoformat()}
    record(run, Event.TEXT_REPLY, activity, flow, now, settings)
    return store([run], now)


def store(runs: Sequence[Run], now: datetime) -> Wakes:
    """Write the runs back in one statement, create the texts of text steps entered now, and
    say what to wake."""
    wakes = Wakes()
    if not runs:
        return wakes
    db.session.execute(
        update(Envelope),
        [
            {
                "id": run.envelope_id,
                "activity_id": run.activity_id,
                "step": run.step,
                "next_step_at": run.next_step_at,
                "exit_type": run.exit_type,
                "status": run.status,
                "values": run.values,
                "path": run.path,
                "completed_at": now if run.exit_type is not None else None,
                "updated_at": now,
            }
            for run in runs
        ],
    )
    flow = activities_of({run.activity_id or "" for run in runs if run.text_due})
    texts = []
    for run, text_id in zip(
        (run for run in runs if run.text_due),
        new_ids(sum(run.text_due for run in runs)),
        strict=True,
    ):
        activity = flow[run.activity_id or ""]
        texts.append(
            text_row(text_id, run.account_id, run.engagement_id, run.envelope_id, activity.id,
                     run.step, run.phone_number, activity.sender or "", now)
        )  # fmt: skip
        wakes.send(run.engagement_id, activity.id, run.envelope_id)
    insert_texts(texts)
    for run in runs:
        if run.exit_type is None and run.next_step_at is not None:
            wakes.run(run.engagement_id, run.next_step_at)
    return wakes


def text_row(
    text_id: str,
    account_id: str,
    engagement_id: str,
    envelope_id: str,
    activity_id: str,
    step: int,
    to: str,
    sender: str,
    now: datetime,
) -> dict[str, Any]:
    """A new `queued` text of a run's step, as `insert_texts` takes it."""
    return {
        "id": text_id,
        "account_id": account_id,
        "engagement_id": engagement_id,
        "envelope_id": envelope_id,
        "activity_id": activity_id,
        "step": step,
        "to": to,
        "from_": sender,
        "status": TextStatus.QUEUED.value,
        "retry_attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def insert_texts(rows: list[dict[str, Any]]) -> None:
    """Create texts in one statement; one that exists for its envelope and step is kept as it
    is, so a repeated start or advance creates nothing."""
    insert_new(Text, rows)
