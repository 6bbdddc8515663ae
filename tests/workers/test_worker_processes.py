"""Real `campaign worker` processes: pacing across two workers, a worker killed mid-send, and
Redis flushed mid-send. The carrier is the loopback Twilio sink."""

from __future__ import annotations

import time
from collections import Counter

from flask import Flask

from campaign.extensions import redis_store
from campaign.models import TextStatus
from campaign.workers.rounds import ROUND_PER_CONNECTION
from tests.campaign_runs import (
    SEND_CONCURRENCY,
    Workers,
    settled,
    start_campaign,
    text_statuses,
    wait_until,
)
from tests.client import ApiClient
from tests.loopback_twilio import TwilioSetup


def test_two_workers_pace_a_sender_at_its_throughput(
    app: Flask, api: ApiClient, twilio: TwilioSetup, workers: Workers
) -> None:
    engagement_id = start_campaign(app, api, size=50, throughput=5)
    workers.start()
    workers.start()
    wait_until(lambda: len(twilio.sink.messages) >= 50, 60, "50 texts did not arrive")
    received = sorted(message.received for message in twilio.sink.messages)
    # 50 texts at 5 per second: the 50th is due 9.8 s after the first, whichever worker sends.
    assert received[-1] - received[0] >= 9.0
    busiest_second = max(sum(1 for t in received if start <= t < start + 1.0) for start in received)
    assert busiest_second <= 6
    assert Counter(m.to for m in twilio.sink.messages).most_common(1)[0][1] == 1
    wait_until(lambda: settled(app, engagement_id, 50), 30, "texts did not settle")


def _settle_once_each(
    app: Flask, twilio: TwilioSetup, engagement_id: str, size: int, started: float
) -> tuple[float, Counter[str], Counter[str]]:
    """Wait for every text to settle; seconds since `started`, messages per number at the sink
    (none twice) and the texts' statuses."""
    wait_until(
        lambda: settled(app, engagement_id, size),
        120,
        lambda: f"texts did not settle: {text_statuses(app, engagement_id)}",
    )
    elapsed = time.monotonic() - started
    per_number = Counter(message.to for message in twilio.sink.messages)
    assert max(per_number.values()) == 1, "a text was sent twice"
    return elapsed, per_number, text_statuses(app, engagement_id)


def _assert_nothing_more_arrives(twilio: TwilioSetup, landed: int) -> None:
    """A killed worker sends nothing more: only requests already on the wire (one per
    connection) may land after the kill."""
    time.sleep(2.0)
    late = len(twilio.sink.messages) - landed
    assert late <= SEND_CONCURRENCY, f"the killed worker kept sending: {late} texts after the kill"


def test_a_worker_killed_mid_send_loses_nothing_and_sends_nothing_twice(
    app: Flask, api: ApiClient, twilio: TwilioSetup, workers: Workers
) -> None:
    size = 3000
    engagement_id = start_campaign(app, api, size=size, throughput=10_000)
    started = time.monotonic()
    first = workers.start()
    wait_until(lambda: len(twilio.sink.messages) >= 400, 60, "sending did not start")
    first.kill()
    _assert_nothing_more_arrives(twilio, len(twilio.sink.messages))
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
    app: Flask, api: ApiClient, twilio: TwilioSetup, workers: Workers
) -> None:
    size = 3000
    engagement_id = start_campaign(app, api, size=size, throughput=10_000)
    started = time.monotonic()
    workers.start()
    workers.start()
    wait_until(lambda: len(twilio.sink.messages) >= 400, 60, "sending did not start")
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
    app: Flask, api: ApiClient, twilio: TwilioSetup, workers: Workers
) -> None:
    engagement_id = start_campaign(app, api, size=60, throughput=5)
    first = workers.start()
    wait_until(lambda: len(twilio.sink.messages) >= 5, 30, "sending did not start")
    assert first.stop() == 0, first.log()
    statuses = text_statuses(app, engagement_id)
    assert statuses[TextStatus.SENDING] == 0 and statuses[TextStatus.UNKNOWN] == 0, statuses
    assert 5 <= statuses[TextStatus.SENT] < 60
    workers.start()
    wait_until(
        lambda: settled(app, engagement_id, 60),
        60,
        lambda: f"texts did not settle: {text_statuses(app, engagement_id)}",
    )
    assert text_statuses(app, engagement_id) == Counter({TextStatus.SENT: 60})
    assert sorted(Counter(m.to for m in twilio.sink.messages).values()) == [1] * 60
