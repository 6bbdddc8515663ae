"""Real `campaign worker` processes: pacing across two workers, a worker killed mid-send, and
Redis flushed mid-send. The carrier is the loopback Twilio sink."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from campaign.extensions import db, redis_store
from campaign.models import Text, TextStatus
from campaign.workers.send import ROUND_PER_CONNECTION
from tests.client import ApiClient
from tests.factories import BULK, build_seed_campaign, envelope, make_phone_number, resource
from tests.servers import WorkerProcess, settings_environment
from tests.workers.conftest import TwilioSetup

SETTLED = {
    TextStatus.SENT,
    TextStatus.DELIVERED,
    TextStatus.UNDELIVERED,
    TextStatus.FAILED,
    TextStatus.UNKNOWN,
    TextStatus.CANCELLED,
}
SEND_CONCURRENCY = 16


@pytest.fixture
def workers(
    app_environment: dict[str, str], twilio: TwilioSetup, tmp_path: Path
) -> Iterator[list[WorkerProcess]]:
    """Starts `campaign worker` processes on demand; stops whatever is left at the end."""
    started: list[WorkerProcess] = []
    env = settings_environment(
        app_environment,
        **{key: value for key, value in twilio.settings().items()},
        CAMPAIGN_STUCK_AFTER=9,
        PROVIDER_CONNECT_TIMEOUT=1,
        PROVIDER_READ_TIMEOUT=2,
        CAMPAIGN_SWEEP_INTERVAL=1,
        CAMPAIGN_BATCH_SIZE=200,
        CAMPAIGN_SEND_CONCURRENCY=SEND_CONCURRENCY,
        CAMPAIGN_RETRY_BACKOFF=0.2,
    )
    env["SMS_PROVIDER"] = "twilio"

    class Starter(list):  # type: ignore[type-arg]
        def start(self) -> WorkerProcess:
            worker = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log")
            started.append(worker)
            return worker

    yield Starter()  # type: ignore[misc]
    for worker in started:
        if worker.process.poll() is None:
            worker.stop()


def _campaign(app: Flask, api: ApiClient, size: int, throughput: int) -> str:
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
    reply = api.patch(
        f"/api/v1/engagements/{engagement.engagement_id}",
        resource("engagements", {"status": "scheduled"}, id_=engagement.engagement_id),
    )
    assert reply.status == 202
    return engagement.engagement_id


def _wait_until(condition: object, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(message)


def _statuses(app: Flask, engagement_id: str) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(
            select(Text.status, func.count())
            .where(Text.engagement_id == engagement_id)
            .group_by(Text.status)
        ).all()
        db.session.remove()
    return Counter(dict(rows))


def _settled(app: Flask, engagement_id: str, size: int) -> bool:
    statuses = _statuses(app, engagement_id)
    return sum(statuses.values()) == size and set(statuses) <= SETTLED


def test_two_workers_pace_a_sender_at_its_throughput(
    app: Flask, api: ApiClient, twilio: TwilioSetup, workers: list
) -> None:
    engagement_id = _campaign(app, api, size=50, throughput=5)
    workers.start()
    workers.start()
    _wait_until(lambda: len(twilio.sink.messages) >= 50, 60, "50 texts did not arrive")
    received = sorted(message.received for message in twilio.sink.messages)
    # 50 texts at 5 per second: the 50th is due 9.8 s after the first, whichever worker sends.
    assert received[-1] - received[0] >= 9.0
    busiest_second = max(sum(1 for t in received if start <= t < start + 1.0) for start in received)
    assert busiest_second <= 6
    assert Counter(m.to for m in twilio.sink.messages).most_common(1)[0][1] == 1
    _wait_until(lambda: _settled(app, engagement_id, 50), 30, "texts did not settle")


def _settle_once_each(
    app: Flask, twilio: TwilioSetup, engagement_id: str, size: int, started: float
) -> tuple[float, Counter[str], Counter[str]]:
    """Wait for every text to settle; seconds since `started`, messages per number at the sink
    (none twice) and the texts' statuses."""
    _wait_until(
        lambda: _settled(app, engagement_id, size),
        120,
        f"texts did not settle: {_statuses(app, engagement_id)}",
    )
    elapsed = time.monotonic() - started
    per_number = Counter(message.to for message in twilio.sink.messages)
    assert max(per_number.values()) == 1, "a text was sent twice"
    return elapsed, per_number, _statuses(app, engagement_id)


def test_a_worker_killed_mid_send_loses_nothing_and_sends_nothing_twice(
    app: Flask, api: ApiClient, twilio: TwilioSetup, workers: list
) -> None:
    size = 3000
    engagement_id = _campaign(app, api, size=size, throughput=10_000)
    started = time.monotonic()
    first = workers.start()
    _wait_until(lambda: len(twilio.sink.messages) >= 400, 60, "sending did not start")
    first.kill()
    workers.start()
    elapsed, per_number, statuses = _settle_once_each(app, twilio, engagement_id, size, started)
    # Only texts in flight when the worker died may be unknown: at most one claimed round.
    assert statuses[TextStatus.UNKNOWN] <= ROUND_PER_CONNECTION * SEND_CONCURRENCY
    assert statuses[TextStatus.SENT] + statuses[TextStatus.UNKNOWN] == size
    assert len(per_number) >= statuses[TextStatus.SENT]
    print(
        f"\nkill -9 test: {size} texts settled in {elapsed:.1f} s "
        f"({len(twilio.sink.messages) / elapsed:.0f} texts/s at the sink), {dict(statuses)}"
    )


def test_redis_flushed_mid_send_loses_nothing_and_sends_nothing_twice(
    app: Flask, api: ApiClient, twilio: TwilioSetup, workers: list
) -> None:
    size = 3000
    engagement_id = _campaign(app, api, size=size, throughput=10_000)
    started = time.monotonic()
    workers.start()
    workers.start()
    _wait_until(lambda: len(twilio.sink.messages) >= 400, 60, "sending did not start")
    with app.app_context():
        redis_store.connection.flushdb()
    elapsed, per_number, statuses = _settle_once_each(app, twilio, engagement_id, size, started)
    assert statuses[TextStatus.SENT] == size, dict(statuses)
    assert len(per_number) == size
    print(
        f"\nflush test: {size} texts in {elapsed:.1f} s "
        f"({len(twilio.sink.messages) / elapsed:.0f} texts/s at the sink)"
    )


def test_sigterm_lets_the_worker_finish_its_round_and_lose_nothing(
    app: Flask, api: ApiClient, twilio: TwilioSetup, workers: list
) -> None:
    engagement_id = _campaign(app, api, size=60, throughput=5)
    first = workers.start()
    _wait_until(lambda: len(twilio.sink.messages) >= 5, 30, "sending did not start")
    assert first.stop() == 0, first.log()
    statuses = _statuses(app, engagement_id)
    assert statuses[TextStatus.SENDING] == 0 and statuses[TextStatus.UNKNOWN] == 0, statuses
    assert 5 <= statuses[TextStatus.SENT] < 60
    workers.start()
    _wait_until(
        lambda: _settled(app, engagement_id, 60),
        60,
        f"texts did not settle: {_statuses(app, engagement_id)}",
    )
    assert _statuses(app, engagement_id) == Counter({TextStatus.SENT: 60})
    assert sorted(Counter(m.to for m in twilio.sink.messages).values()) == [1] * 60
