"""Sending through a loopback server that speaks Twilio's Messages API, with signed status
callbacks coming back over HTTP."""

from __future__ import annotations

import time

import httpx
from flask import Flask

from tests.client import ApiClient
from tests.factories import build_seed_campaign, make_phone_number, schedule
from tests.jobs import drain
from tests.loopback_twilio import TwilioSetup
from tests.servers import configured

SEED_TEXTS = {
    "+15197566220": "Hello Alexander, text templates support variables.",
    "+19734390088": "Hello Michael, text templates support variables.",
}


def _schedule(
    app: Flask, api: ApiClient, envelopes: tuple[tuple[str, dict], ...] | None = None
) -> str:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=100)
    seed = (
        build_seed_campaign(api, phone_id)
        if envelopes is None
        else build_seed_campaign(api, phone_id, envelopes=envelopes)
    )
    reply = schedule(api, seed.engagement_id, **{"delivery-type": "immediately"})
    assert reply.status == 202
    return seed.engagement_id


def _texts(api: ApiClient, engagement_id: str) -> dict[str, dict]:
    texts = api.get(f"/api/v1/texts?filter[engagement]={engagement_id}").data
    return {text["attributes"]["to"]: text["attributes"] for text in texts}


def test_seed_campaign_is_delivered_through_twilio(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _schedule(app, api)
    drain(app)
    assert {m.to: m.body for m in twilio.sink.messages} == SEED_TEXTS
    assert {m.from_ for m in twilio.sink.messages} == {"+15195550100"}
    texts = _texts(api, engagement_id)
    assert {to: t["status"] for to, t in texts.items()} == dict.fromkeys(SEED_TEXTS, "sent")
    assert {t["provider-message-id"] for t in texts.values()} == {
        m.sid for m in twilio.sink.messages
    }

    assert twilio.sink.deliver("delivered") == [204, 204]
    drain(app)
    texts = _texts(api, engagement_id)
    assert {to: t["status"] for to, t in texts.items()} == dict.fromkeys(SEED_TEXTS, "delivered")
    assert all(t["delivered-at"] for t in texts.values())
    engagement = api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]
    assert (engagement["status"], engagement["count-complete"]) == ("completed", 2)

    # Repeated and late callbacks change nothing: status never moves backwards.
    assert twilio.sink.deliver("delivered") == [204, 204]
    assert twilio.sink.deliver("sent") == [204, 204]
    assert {t["status"] for t in _texts(api, engagement_id).values()} == {"delivered"}


def test_forged_status_callback_is_rejected(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _schedule(app, api)
    drain(app)
    message = twilio.sink.messages[0]
    params = twilio.sink.callback_params(message, "undelivered", 30003)
    forged = httpx.post(
        message.status_callback, data=params, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    )
    assert forged.status_code == 403
    assert forged.headers["Content-Type"] == "application/vnd.api+json"
    assert {t["status"] for t in _texts(api, engagement_id).values()} == {"sent"}


def test_undelivered_callback_marks_the_text_and_its_envelope(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _schedule(app, api)
    drain(app)
    first = twilio.sink.messages[0]
    assert twilio.sink.deliver("undelivered", 30003, messages=[first]) == [204]
    drain(app)
    text = _texts(api, engagement_id)[first.to]
    assert (text["status"], text["error-code"]) == ("undelivered", "30003")
    engagement = api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]
    assert (engagement["count-complete"], engagement["count-incomplete"]) == (1, 1)


def test_server_errors_are_retried_until_accepted(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    twilio.sink.fail_next(2, status=500)
    engagement_id = _schedule(app, api, envelopes=(("+15197566220", {"first-name": "A"}),))
    drain(app)
    text = _texts(api, engagement_id)["+15197566220"]
    assert (text["status"], text["retry-attempts"]) == ("sent", 2)
    assert len(twilio.sink.messages) == 1
    assert twilio.sink.attempts == 3


def test_server_errors_fail_the_text_after_the_last_attempt(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    twilio.sink.fail_next(3, status=503)
    engagement_id = _schedule(app, api, envelopes=(("+15197566220", {"first-name": "A"}),))
    drain(app)
    text = _texts(api, engagement_id)["+15197566220"]
    assert (text["status"], text["retry-attempts"], text["error-code"]) == ("failed", 3, "20503")
    assert twilio.sink.messages == []
    envelope = api.get(f"/api/v1/envelopes?filter[engagement]={engagement_id}").data[0]
    assert envelope["attributes"]["status"] == "failed"


def test_rate_limit_is_retried_after_retry_after(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    twilio.sink.rate_limit_next(1, retry_after="1")
    engagement_id = _schedule(app, api, envelopes=(("+15197566220", {"first-name": "A"}),))
    drain(app)
    text = _texts(api, engagement_id)["+15197566220"]
    assert (text["status"], text["retry-attempts"]) == ("sent", 1)
    assert twilio.sink.attempts == 2


def test_a_hanging_carrier_leaves_the_text_unknown_and_never_resends(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    twilio.sink.hang_next(1, seconds=2.0)
    engagement_id = _schedule(app, api, envelopes=(("+15197566220", {"first-name": "A"}),))
    drain(app)
    text = _texts(api, engagement_id)["+15197566220"]
    assert text["status"] == "unknown"
    assert twilio.sink.attempts == 1
    # The carrier did take it (the sink records it when it finally answers): its callback,
    # which carries our text id, settles the text.
    for _ in range(50):
        if twilio.sink.messages:
            break
        time.sleep(0.1)
    assert twilio.sink.deliver("delivered") == [204]
    assert _texts(api, engagement_id)["+15197566220"]["status"] == "delivered"


def test_opted_out_recipient_fails_with_twilio_code(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    twilio.sink.reject(
        "+19734390088", code=21610, message="Attempt to send to unsubscribed recipient"
    )
    engagement_id = _schedule(app, api)
    drain(app)
    texts = _texts(api, engagement_id)
    assert texts["+15197566220"]["status"] == "sent"
    opted_out = texts["+19734390088"]
    assert (opted_out["status"], opted_out["error-code"]) == ("failed", "21610")
    assert "unsubscribed" in opted_out["error-detail"]
    assert opted_out["retry-attempts"] == 1


def test_a_slow_carrier_on_one_connection_gets_every_text_exactly_once(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    # One connection and a carrier that holds each of the first 6 requests past the 1 s read
    # timeout: a round of 8 cannot start them all within the sender's 5 s window, so its last
    # texts go back to the queue untried and leave in a later round.
    envelopes = tuple((f"+1519555{i:04d}", {"first-name": f"N{i}"}) for i in range(10))
    twilio.sink.hang_next(6, seconds=1.5)
    with configured(app, SEND_CONCURRENCY=1):
        engagement_id = _schedule(app, api, envelopes=envelopes)
        drain(app)
    texts = _texts(api, engagement_id)

    assert sorted(text["status"] for text in texts.values()) == ["sent"] * 4 + ["unknown"] * 6
    assert twilio.sink.attempts == 10  # every text tried exactly once
    assert all(text["retry-attempts"] == 0 for text in texts.values())


def test_an_answer_past_the_cap_makes_its_text_unknown_and_it_is_never_resent(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    twilio.sink.huge_answer_next(size=48 * 1024 * 1024, framing="chunked")
    engagement_id = _schedule(app, api, envelopes=(("+15197566220", {"first-name": "A"}),))
    with configured(app, PROVIDER_READ_TIMEOUT=30.0):
        drain(app)
    text = _texts(api, engagement_id)["+15197566220"]
    assert (text["status"], text["error-code"]) == ("unknown", "no-answer")
    assert twilio.sink.attempts == 1


def test_one_over_long_answer_in_a_round_leaves_every_other_text_its_own_outcome(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    numbers = [f"+1519756{i:04d}" for i in range(8)]
    long_sid, long_code, opted_out = numbers[1], numbers[2], numbers[3]
    twilio.sink.answer_to(long_sid, {"sid": "SM" + "f" * 80})
    twilio.sink.answer_to(long_code, {"code": "9" * 40, "message": "m\u0000" * 4096}, status=400)
    twilio.sink.reject(opted_out)
    engagement_id = _schedule(app, api, envelopes=tuple((n, {"first-name": "A"}) for n in numbers))
    drain(app)
    texts = _texts(api, engagement_id)
    outcome = {n: (t["status"], t["error-code"]) for n, t in texts.items()}
    assert outcome == {
        **{n: ("sent", None) for n in numbers},
        long_code: ("failed", "400"),
        opted_out: ("failed", "21610"),
    }
    sids = {m.to: m.sid for m in twilio.sink.messages}
    assert texts[long_sid]["provider-message-id"] is None
    assert {n: texts[n]["provider-message-id"] for n in numbers[4:] + numbers[:1]} == {
        n: sids[n] for n in numbers[4:] + numbers[:1]
    }
    # Postgres refuses a NUL in text: one such detail used to fail the whole round's write.
    assert len(texts[long_code]["error-detail"]) == 1024
    assert "\u0000" not in texts[long_code]["error-detail"]
