"""Quiet hours on the send path, with real workers and the loopback Twilio sink: a text outside
its engagement's window waits `queued` until the window opens (never failed), in the
recipient's own zones (open in all of them; fallback-timezone when the number names none) or
in the engagement's zone, where a closed window keeps the send job from claiming at all.

Windows are built around the moment the test runs, in zones chosen for their local time then
(one near noon to be open, one near midnight to be closed), so no window crosses midnight and
each test holds at any hour of the day."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.scheduler import RQScheduler
from sqlalchemy import select, update

from campaign.extensions import db, redis_store
from campaign.models import Engagement, Envelope, Text
from campaign.workers import job_ids
from campaign.workers.queues import QUEUE_NAMES
from campaign.workers.runner import InProcessWorker, build_worker
from campaign.workers.send import enqueue_send
from tests.client import ApiClient
from tests.factories import SeedCampaign, build_seed_campaign, make_phone_number, resource, schedule
from tests.loopback_twilio import TwilioSetup

# Numbers phonenumbers places in one zone each, spread around the world: at any moment one of
# them is within about 2.5 hours of noon and one within about 2.5 hours of midnight.
ONE_ZONE = {
    "America/Los_Angeles": "+13105550100",
    "America/Mexico_City": "+525512345678",
    "America/New_York": "+12015550123",
    "America/Sao_Paulo": "+551123456789",
    "Europe/London": "+442079460000",
    "Africa/Johannesburg": "+27211234567",
    "Asia/Dubai": "+97142345678",
    "Asia/Calcutta": "+911123456789",
    "Asia/Jakarta": "+62218350123",
    "Asia/Tokyo": "+81312345678",
    "Australia/Sydney": "+61212345678",
}
# Numbers phonenumbers places in two zones an hour apart (west, east), and a number of the east
# zone alone: at any moment the east zone of one of them is within five hours of noon.
TWO_ZONES = {
    "+16055550100": ("America/Denver", "America/North_Dakota/Center", "+17125550100"),
    "+34612345678": ("Atlantic/Canary", "Europe/Madrid", "+34810123456"),
    "+628112345678": ("Asia/Jakarta", "Asia/Makassar", "+62411123456"),
}
# A US toll-free number: phonenumbers gives it every North American zone, Guam to Adak.
TOLL_FREE = "+18005550100"
# International freephone: valid, but phonenumbers knows no zone for it.
NO_ZONE = "+80012345678"
HOUR = timedelta(hours=1)


def _minutes_from_noon(zone: str, now: datetime) -> int:
    local = now.astimezone(ZoneInfo(zone))
    return abs(local.hour * 60 + local.minute - 12 * 60)


def _noon_zone(now: datetime) -> str:
    return min(ONE_ZONE, key=lambda zone: _minutes_from_noon(zone, now))


def _late_zones(now: datetime) -> tuple[str, str]:
    """The two zones furthest from noon: each at least 4.5 hours away, outside any window
    built around the noon zone's clock."""
    first, second = sorted(ONE_ZONE, key=lambda zone: -_minutes_from_noon(zone, now))[:2]
    return first, second


def _midnight_zone(now: datetime) -> str:
    return _late_zones(now)[0]


def _window(zone: str, now: datetime, opens: timedelta, lasts: timedelta) -> dict[str, str]:
    """`start` and `end` in `zone`'s wall-clock time, `opens` from now (negative: already open)."""
    start = (now.astimezone(ZoneInfo(zone)) + opens).replace(second=0, microsecond=0)
    return {"start": f"{start:%H:%M}", "end": f"{start + lasts:%H:%M}"}


def _opening(zone: str, start: str, now: datetime) -> datetime:
    """The first moment from `now` at which `zone`'s clock reads `start`, in UTC."""
    tz = ZoneInfo(zone)
    hour, minute = (int(part) for part in start.split(":"))
    today = now.astimezone(tz).date()
    for day in (today, today + timedelta(days=1)):
        moment = datetime.combine(day, wall_time(hour, minute), tzinfo=tz).astimezone(UTC)
        if moment >= now:
            return moment
    raise AssertionError("a daily time comes within a day")


def _campaign(app: Flask, api: ApiClient, numbers: list[str]) -> SeedCampaign:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=100)
    envelopes = tuple((number, {"first-name": "Ada"}) for number in numbers)
    return build_seed_campaign(api, phone_id, envelopes=envelopes)


def _start(api: ApiClient, seed: SeedCampaign, timezone: str, window: dict[str, str], **extra: Any):
    """Enable quiet hours with `window` in `timezone` and schedule the engagement."""
    settings = {
        "queue-schedule-is-enabled": True,
        "queue-schedule": {"timezone": timezone, **window},
        **extra,
    }
    reply = schedule(api, seed.engagement_id, **settings)
    assert reply.status == 202, reply.document


def _patch(api: ApiClient, engagement_id: str, **attributes: Any) -> int:
    body = resource("engagements", attributes, id_=engagement_id)
    return api.patch(f"/api/v1/engagements/{engagement_id}", body).status


def _work(app: Flask, *, timeout: float = 30.0) -> dict[str, datetime]:
    """Work every job due now or within a minute; the jobs left, all scheduled later, by id.

    (tests.jobs.drain waits for every scheduled job, and a held text's continuation is
    scheduled for its window's opening, hours away.)"""
    worker = build_worker(app, InProcessWorker)
    with app.app_context():
        connection = redis_store.connection
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scheduler = RQScheduler(QUEUE_NAMES, connection=connection)
        scheduler.acquire_locks()
        scheduler.enqueue_scheduled_jobs()
        scheduler.release_locks()
        worker.work(burst=True, with_scheduler=False)
        queues = [Queue(name, connection=connection) for name in QUEUE_NAMES]
        later = {
            job_id: registry.get_scheduled_time(job_id)
            for registry in (ScheduledJobRegistry(queue=queue) for queue in queues)
            for job_id in registry.get_job_ids()
        }
        soon = datetime.now(UTC) + timedelta(minutes=1)
        if not any(queue.count for queue in queues) and all(at > soon for at in later.values()):
            return later
        time.sleep(0.1)
    raise AssertionError(f"jobs still due after {timeout} s")


def _sends(later: dict[str, datetime]) -> list[datetime]:
    """When each scheduled send job will run."""
    return sorted(at for job_id, at in later.items() if job_ids.parse(job_id).kind == job_ids.SEND)


def _texts(app: Flask, engagement_id: str) -> dict[str, Text]:
    with app.app_context():
        rows = db.session.scalars(select(Text).where(Text.engagement_id == engagement_id)).all()
        db.session.expunge_all()
        return {text.to: text for text in rows}


def _engagement(api: ApiClient, engagement_id: str) -> dict[str, Any]:
    return api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]


def _counters(attributes: dict[str, Any]) -> tuple[str, int, int, int, int]:
    return (
        attributes["status"],
        attributes["count-total"],
        attributes["count-complete"],
        attributes["count-incomplete"],
        attributes["count-hold"],
    )


def _sent_to(twilio: TwilioSetup) -> list[str]:
    return sorted(message.to for message in twilio.sink.messages)


def _assert_waiting(text: Text, opening: datetime) -> None:
    assert (text.status, text.error_code, text.retry_attempts) == ("queued", "quiet-hours", 0)
    assert text.next_attempt_at == opening
    assert text.claimed_at is None


def _held(app: Flask, api: ApiClient) -> tuple[SeedCampaign, dict[str, datetime], list[datetime]]:
    """A recipient-zone campaign whose two texts both wait, worked: each number's opening (as
    it waits, checked), and when the scheduled send jobs will run."""
    now = datetime.now(UTC)
    window = _window(_noon_zone(now), now, -HOUR, 2 * HOUR)
    late = _late_zones(now)
    seed = _campaign(app, api, [ONE_ZONE[zone] for zone in late])
    _start(api, seed, "recipient", window)
    sends = _sends(_work(app))
    openings = {ONE_ZONE[zone]: _opening(zone, window["start"], now) for zone in late}
    texts = _texts(app, seed.engagement_id)
    for number, opening in openings.items():
        _assert_waiting(texts[number], opening)
        assert f"{opening:%Y-%m-%dT%H:%M:%SZ}" in texts[number].error_detail
    return seed, openings, sends


def test_texts_outside_a_recipient_window_wait_queued_for_its_opening(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    """Both numbers' local clocks are far from the window: nothing goes, nothing fails, the
    engagement keeps sending (counted as held) and its batch continues at the first opening."""
    seed, openings, sends = _held(app, api)
    assert twilio.sink.messages == []
    assert sends == [min(openings.values())]
    assert _counters(_engagement(api, seed.engagement_id)) == ("sending", 2, 0, 0, 2)


def test_only_the_recipient_whose_window_is_open_is_texted(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    now = datetime.now(UTC)
    open_zone, closed_zone = _noon_zone(now), _midnight_zone(now)
    window = _window(open_zone, now, -HOUR, 2 * HOUR)
    seed = _campaign(app, api, [ONE_ZONE[open_zone], ONE_ZONE[closed_zone]])
    _start(api, seed, "recipient", window)
    _work(app)
    assert _sent_to(twilio) == [ONE_ZONE[open_zone]]
    texts = _texts(app, seed.engagement_id)
    assert texts[ONE_ZONE[open_zone]].status == "sent"
    _assert_waiting(texts[ONE_ZONE[closed_zone]], _opening(closed_zone, window["start"], now))
    assert _counters(_engagement(api, seed.engagement_id)) == ("sending", 2, 1, 0, 1)


def test_an_open_window_in_the_engagements_zone_lets_every_text_go(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    now = datetime.now(UTC)
    zone = _noon_zone(now)
    numbers = [ONE_ZONE[zone], ONE_ZONE[_midnight_zone(now)]]
    seed = _campaign(app, api, numbers)
    _start(api, seed, zone, _window(zone, now, -HOUR, 2 * HOUR))
    assert _work(app) == {}
    assert _sent_to(twilio) == sorted(numbers)
    assert _counters(_engagement(api, seed.engagement_id)) == ("completed", 2, 2, 0, 0)


def test_a_closed_window_in_the_engagements_zone_claims_nothing_until_it_opens(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    """No text is taken to `sending` and put back: the send job stops before its claim and its
    batch continues at the window's opening."""
    now = datetime.now(UTC)
    zone = _noon_zone(now)
    window = _window(zone, now, 2 * HOUR, HOUR)
    seed = _campaign(app, api, [ONE_ZONE[zone], ONE_ZONE[_midnight_zone(now)]])
    _start(api, seed, zone, window)
    later = _work(app)
    assert twilio.sink.messages == []
    assert _sends(later) == [_opening(zone, window["start"], now)]
    for text in _texts(app, seed.engagement_id).values():
        assert (text.status, text.next_attempt_at, text.error_code) == ("queued", None, None)
        assert text.claimed_at is None and text.updated_at == text.created_at
    with app.app_context():
        processed = db.session.scalars(
            select(Envelope.processed_at).where(Envelope.engagement_id == seed.engagement_id)
        ).all()
    assert processed == [None, None]
    assert _counters(_engagement(api, seed.engagement_id)) == ("sending", 2, 0, 0, 2)


def test_a_number_in_two_zones_waits_until_the_window_is_open_in_both(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    """The window has opened in the number's eastern zone but not yet in its western one, an
    hour behind: a number of the eastern zone alone goes, the two-zone one waits."""
    now = datetime.now(UTC)
    number = min(TWO_ZONES, key=lambda n: _minutes_from_noon(TWO_ZONES[n][1], now))
    west, east, east_only = TWO_ZONES[number]
    window = _window(east, now, -timedelta(minutes=30), 2 * HOUR)
    seed = _campaign(app, api, [number, east_only])
    _start(api, seed, "recipient", window)
    _work(app)
    assert _sent_to(twilio) == [east_only]
    _assert_waiting(_texts(app, seed.engagement_id)[number], _opening(west, window["start"], now))


def test_a_number_whose_zones_never_share_the_window_waits_and_says_why(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    """A toll-free number spans North America, Guam to Adak: no two-hour window is open in all
    of its zones at once. It is not failed: it waits, looked at again in 8 days, and says that
    the schedule is what to change."""
    now = datetime.now(UTC)
    seed = _campaign(app, api, [TOLL_FREE])
    _start(api, seed, "recipient", _window("America/Chicago", now, -HOUR, 2 * HOUR))
    _work(app)
    assert twilio.sink.messages == []
    text = _texts(app, seed.engagement_id)[TOLL_FREE]
    assert (text.status, text.error_code) == ("queued", "quiet-hours")
    assert now + timedelta(days=8) <= text.next_attempt_at <= datetime.now(UTC) + timedelta(days=8)
    assert "change the queue-schedule" in text.error_detail


def test_a_number_of_no_known_zone_waits_for_the_window_in_the_fallback_timezone(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    now = datetime.now(UTC)
    open_zone, closed_zone = _noon_zone(now), _midnight_zone(now)
    window = _window(open_zone, now, -HOUR, 2 * HOUR)
    seed = _campaign(app, api, [NO_ZONE, ONE_ZONE[open_zone]])
    _start(api, seed, "recipient", window, **{"fallback-timezone": closed_zone})
    _work(app)
    assert _sent_to(twilio) == [ONE_ZONE[open_zone]]
    _assert_waiting(
        _texts(app, seed.engagement_id)[NO_ZONE], _opening(closed_zone, window["start"], now)
    )


def test_a_number_of_no_known_zone_goes_when_the_fallback_timezone_is_open(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    now = datetime.now(UTC)
    open_zone = _noon_zone(now)
    seed = _campaign(app, api, [NO_ZONE])
    window = _window(open_zone, now, -HOUR, 2 * HOUR)
    _start(api, seed, "recipient", window, **{"fallback-timezone": open_zone})
    _work(app)
    assert _sent_to(twilio) == [NO_ZONE]


def _rerun_batch(app: Flask, seed: SeedCampaign) -> None:
    """Enqueue the campaign's send batch now, as its continuation does once due."""
    with app.app_context():
        generation = db.session.get(Engagement, seed.engagement_id).generation
        first, last = min(seed.envelope_ids), max(seed.envelope_ids)
        enqueue_send(
            seed.engagement_id, generation, seed.activity_id, first, last, continuation="due"
        )
        db.session.remove()


def _due_again(app: Flask, seed: SeedCampaign) -> None:
    """Make the held texts due now, and run their batch again."""
    with app.app_context():
        db.session.execute(
            update(Text)
            .where(Text.engagement_id == seed.engagement_id)
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()
    _rerun_batch(app, seed)


def _assert_still_held(
    app: Flask, twilio: TwilioSetup, seed: SeedCampaign, openings: dict[str, datetime]
) -> None:
    """Worked again, the held texts still wait for their openings, the batch scheduled then."""
    later = _work(app)
    assert twilio.sink.messages == []
    texts = _texts(app, seed.engagement_id)
    for number, opening in openings.items():
        _assert_waiting(texts[number], opening)
    assert min(openings.values()) in _sends(later)


def test_a_held_text_due_again_is_checked_again_at_its_claim(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    """Made due while its window is still closed, it is claimed, found outside, and waits for
    the same opening again: the window is checked at every claim, the text never fails."""
    seed, openings, _ = _held(app, api)
    _due_again(app, seed)
    _assert_still_held(app, twilio, seed, openings)


def test_a_waiting_text_still_expires_with_its_validity_period(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    """Quiet hours never make a text go late: past its validity period when its turn comes, it
    fails `expired`."""
    seed, _, _ = _held(app, api)
    assert _patch(api, seed.engagement_id, **{"validity-period": 1}) == 200
    time.sleep(1.2)
    _due_again(app, seed)
    _work(app)
    assert twilio.sink.messages == []
    texts = _texts(app, seed.engagement_id).values()
    assert {(text.status, text.error_code) for text in texts} == {("failed", "expired")}


def test_texts_held_by_a_window_go_after_a_pause_turns_quiet_hours_off(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    """A change while paused makes the texts it held due again, so the resume sends them now
    rather than at the old window's opening."""
    seed, openings, _ = _held(app, api)
    assert _patch(api, seed.engagement_id, status="paused") == 200
    assert _patch(api, seed.engagement_id, **{"queue-schedule-is-enabled": False}) == 200
    assert _patch(api, seed.engagement_id, status="scheduled") == 202
    _work(app)
    assert _sent_to(twilio) == sorted(openings)
    assert _counters(_engagement(api, seed.engagement_id)) == ("completed", 2, 2, 0, 0)


def test_a_held_engagement_paused_and_resumed_keeps_its_texts_waiting(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    seed, openings, _ = _held(app, api)
    assert _patch(api, seed.engagement_id, status="paused") == 200
    assert _counters(_engagement(api, seed.engagement_id)) == ("paused", 2, 0, 0, 2)
    assert _patch(api, seed.engagement_id, status="scheduled") == 202
    _assert_still_held(app, twilio, seed, openings)


def test_cancelling_a_held_engagement_cancels_its_waiting_texts(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    seed, _, _ = _held(app, api)
    assert _patch(api, seed.engagement_id, status="cancelled") == 200
    _work(app)
    assert twilio.sink.messages == []
    texts = _texts(app, seed.engagement_id).values()
    assert {(text.status, text.next_attempt_at) for text in texts} == {("cancelled", None)}
    assert _counters(_engagement(api, seed.engagement_id)) == ("cancelled", 2, 0, 2, 0)
