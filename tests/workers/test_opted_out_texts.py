"""An opt-out on file holds a text back in the send round, before it is rendered or sent: the
text fails `opted-out`, the carrier never sees it, every other text goes (loopback Twilio sink,
real worker, the API for the opt-out as an operator's import makes it)."""

from __future__ import annotations

from flask import Flask

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
