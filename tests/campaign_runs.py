"""Shared by the tests that run real `campaign worker` processes: the worker environment, a
seeded and scheduled campaign, bounded waits and the texts' statuses."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from campaign.extensions import db
from campaign.models import Engagement, Text, TextDirection, TextStatus
from tests.client import ApiClient
from tests.factories import (
    BULK,
    build_seed_campaign,
    envelope,
    make_phone_number,
    schedule,
)
from tests.loopback_twilio import TwilioSetup
from tests.servers import WorkerProcess, settings_environment

SETTLED = {
    TextStatus.SENT,
    TextStatus.DELIVERED,
    TextStatus.UNDELIVERED,
    TextStatus.FAILED,
    TextStatus.UNKNOWN,
    TextStatus.CANCELLED,
}
SEND_CONCURRENCY = 16


class Workers(list):  # type: ignore[type-arg]
    """`campaign worker` processes started on demand, each logging to its own file."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        super().__init__()
        self.env, self.log_dir = env, log_dir

    def start(self) -> WorkerProcess:
        worker = WorkerProcess(self.env, self.log_dir / f"worker-{len(self)}.log")
        self.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self:
            if worker.process.poll() is None:
                worker.stop()


def worker_environment(
    app_environment: dict[str, str], twilio: TwilioSetup, **overrides: Any
) -> dict[str, str]:
    """Workers that send through the Twilio sink, sweep every second and settle fast."""
    values: dict[str, Any] = {
        **twilio.settings(),
        "CAMPAIGN_STUCK_AFTER": 9,
        "PROVIDER_CONNECT_TIMEOUT": 1,
        "PROVIDER_READ_TIMEOUT": 2,
        "CAMPAIGN_SWEEP_INTERVAL": 1,
        "CAMPAIGN_BATCH_SIZE": 200,
        "CAMPAIGN_SEND_CONCURRENCY": SEND_CONCURRENCY,
        "CAMPAIGN_RETRY_BACKOFF": 0.2,
        **overrides,
    }
    return settings_environment(app_environment, **values)


def start_campaign(app: Flask, api: ApiClient, size: int, throughput: int) -> str:
    """An engagement of `size` envelopes from a sender of `throughput`, scheduled; its id."""
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=throughput)
    engagement = build_seed_campaign(
        api, phone_id, envelopes=(("+15197566220", {"first-name": "Alexander"}),)
    )
    numbers = [f"+1519{7000000 + index:07d}" for index in range(size - 1)]
    for start in range(0, len(numbers), 5000):
        chunk = [
            envelope(engagement.engagement_id, number, {"first-name": f"R{index}"})
            for index, number in enumerate(numbers[start : start + 5000], start)
        ]
        assert api.post("/api/v1/envelopes", {"data": chunk}, headers=BULK).status == 201
    reply = schedule(api, engagement.engagement_id)
    assert reply.status == 202
    return engagement.engagement_id


def wait_until(
    condition: Callable[[], object], timeout: float, message: str | Callable[[], str]
) -> None:
    """Poll `condition` until it holds; fail with `message` (called then, if callable) after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(message() if callable(message) else message)


def text_statuses(app: Flask, engagement_id: str) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(
            select(Text.status, func.count())
            .where(
                Text.engagement_id == engagement_id,
                Text.direction == TextDirection.OUTBOUND.value,
            )
            .group_by(Text.status)
        ).all()
        db.session.remove()
    return Counter(dict(rows))


def settled(app: Flask, engagement_id: str, size: int) -> bool:
    statuses = text_statuses(app, engagement_id)
    return sum(statuses.values()) == size and set(statuses) <= SETTLED


def stored_engagement(app: Flask, engagement_id: str) -> Engagement:
    """The engagement as stored now, detached from any session."""
    with app.app_context():
        engagement = db.session.get(Engagement, engagement_id)
        assert engagement is not None
        db.session.expunge(engagement)
        db.session.remove()
    return engagement
