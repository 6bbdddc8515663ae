"""What a send round holds back before rendering or sending, with a real worker and the
loopback Twilio sink: a text to a number with an opt-out on file fails `opted-out` (the opt-out
made through the API, as an operator's import makes it); a text queued longer ago than its
engagement's validity period fails `expired` and is never sent late. Every other text goes."""

from __future__ import annotations

import time

import pytest
from flask import Flask

from tests.assertions import assert_error
from tests.client import ApiClient
from tests.factories import build_seed_campaign, make_phone_number, resource, schedule
from tests.jobs import drain, run_dispatch_only
from tests.loopback_twilio import TwilioSetup

OPTED_OUT = "+19734390088"
OTHER = "+15197566220"


def _campaign(app: Flask, api: ApiClient) -> str:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=100)
    return build_seed_campaign(api, phone_id).engagement_id


def _opt_out(api: ApiClient, number: str) -> None:
    reply = api.post("/api/v1/opt-outs", resource("opt-outs", {"phone-number": number}))
    assert reply.status == 201, reply.document


def _texts(api: ApiClient, engagement_id: str) -> dict[str, dict]:
    texts = api.get(f"/api/v1/texts?filter[engagement]={engagement_id}").data
    return {text["attributes"]["to"]: text["attributes"] for text in texts}


def test_a_number_opted_out_before_scheduling_is_never_texted(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _campaign(app, api)
    _opt_out(api, OPTED_OUT)
    assert schedule(api, engagement_id, **{"delivery-type": "immediately"}).status == 202
    drain(app)
    assert [message.to for message in twilio.sink.messages] == [OTHER]
    held = _texts(api, engagement_id)[OPTED_OUT]
    assert (held["status"], held["error-code"], held["body"]) == ("failed", "opted-out", None)
    assert _texts(api, engagement_id)[OTHER]["status"] == "sent"
    # Held, not attempted: it counts in count-hold and does not keep the engagement going.
    engagement = api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]
    assert (engagement["status"], engagement["count-complete"]) == ("completed", 1)
    assert (engagement["count-hold"], engagement["count-incomplete"]) == (1, 0)


def test_an_opt_out_stored_after_dispatch_stops_the_queued_text(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    """The texts exist (`queued`) before the opt-out arrives: the round's check still holds the
    opted-out one back."""
    engagement_id = _campaign(app, api)
    assert schedule(api, engagement_id, **{"delivery-type": "immediately"}).status == 202
    run_dispatch_only(app)
    assert {text["status"] for text in _texts(api, engagement_id).values()} == {"queued"}
    _opt_out(api, OPTED_OUT)
    drain(app)
    assert [message.to for message in twilio.sink.messages] == [OTHER]
    assert _texts(api, engagement_id)[OPTED_OUT]["error-code"] == "opted-out"


def test_an_opt_out_of_another_account_does_not_hold_this_accounts_text(
    app: Flask, api: ApiClient, other_api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _campaign(app, api)
    _opt_out(other_api, OPTED_OUT)
    assert schedule(api, engagement_id, **{"delivery-type": "immediately"}).status == 202
    drain(app)
    assert sorted(message.to for message in twilio.sink.messages) == sorted([OTHER, OPTED_OUT])


def _validity(api: ApiClient, engagement_id: str, seconds: object) -> object:
    return api.patch(
        f"/api/v1/engagements/{engagement_id}",
        resource("engagements", {"validity-period": seconds}, id_=engagement_id),
    )


def test_a_text_not_sent_within_its_validity_period_expires_and_is_never_sent(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _campaign(app, api)
    assert _validity(api, engagement_id, 1).status == 200
    assert schedule(api, engagement_id, **{"delivery-type": "immediately"}).status == 202
    run_dispatch_only(app)  # queued now; no worker sends them for longer than the period
    time.sleep(1.2)
    drain(app)
    assert twilio.sink.messages == []
    texts = _texts(api, engagement_id)
    assert {(t["status"], t["error-code"]) for t in texts.values()} == {("failed", "expired")}


def test_texts_within_their_validity_period_are_sent(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _campaign(app, api)
    assert _validity(api, engagement_id, 36_000).status == 200
    assert schedule(api, engagement_id, **{"delivery-type": "immediately"}).status == 202
    drain(app)
    assert sorted(message.to for message in twilio.sink.messages) == sorted([OTHER, OPTED_OUT])
    # What is left of the period goes to Twilio as ValidityPeriod: its queue is bounded too.
    for message in twilio.sink.messages:
        assert 35_900 <= int(message.validity_period or 0) <= 36_000


def test_without_a_validity_period_twilio_is_given_none(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _campaign(app, api)
    assert schedule(api, engagement_id, **{"delivery-type": "immediately"}).status == 202
    drain(app)
    assert [message.validity_period for message in twilio.sink.messages] == [None, None]


@pytest.mark.parametrize("seconds", [0, 36_001, -5, "60", 1.5, True], ids=repr)
def test_a_validity_period_outside_1_to_36000_seconds_is_400_at_it(
    app: Flask, api: ApiClient, seconds: object
) -> None:
    engagement_id = _campaign(app, api)
    reply = _validity(api, engagement_id, seconds)
    assert_error(reply, 400, pointer="/data/attributes/validity-period")
    engagement = api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]
    assert engagement["validity-period"] is None


def test_a_validity_period_is_set_on_create_and_cleared_with_null(
    app: Flask, api: ApiClient
) -> None:
    created = api.post(
        "/api/v1/engagements",
        resource("engagements", {"name": "Valid", "validity-period": 600}),
    )
    assert created.status == 201, created.document
    assert created.data["attributes"]["validity-period"] == 600
    engagement_id = created.data["id"]
    reply = _validity(api, engagement_id, None)
    assert reply.status == 200, reply.document
    assert reply.data["attributes"]["validity-period"] is None
