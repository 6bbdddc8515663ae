"""Inbound texts against the real stack: the app served on loopback, Twilio-signed incoming
messages posted to it by the Twilio sink, real RQ workers sending the auto-replies through the
sink. Stored once per MessageSid, linked to the envelope that last texted the sender; STOP,
START and HELP honoured and confirmed once; the account's replies changeable; carrier opt-outs
(21610) recorded; forged, unknown and oversized deliveries refused or dropped, nothing stored."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask

from campaign.compliance.keywords import Keyword
from campaign.models.account_reply import DEFAULT_REPLIES
from tests import flows_api as flows
from tests.assertions import assert_error, row_count, unchanged
from tests.client import ApiClient
from tests.factories import build_seed_campaign, make_phone_number, resource, schedule
from tests.jobs import drain
from tests.loopback_twilio import TwilioSetup

OURS = "+15195550100"  # make_phone_number's default: the sender, and the number texted back
ALEXANDER, MICHAEL = "+15197566220", "+19734390088"  # the seed campaign's envelopes
STRANGER = "+14165550123"  # never texted by the account
SID = "SM" + "0" * 32


def _texted(app: Flask, api: ApiClient) -> str:
    """The seed campaign, sent: both recipients have been texted from OURS; its id."""
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=100)
    engagement_id = build_seed_campaign(api, phone_id).engagement_id
    assert schedule(api, engagement_id, **{"delivery-type": "immediately"}).status == 202
    drain(app)
    return engagement_id


def _incoming(twilio: TwilioSetup, from_: str, body: str, *, to: str = OURS, **options: Any):
    return twilio.sink.incoming(twilio.base_url + "/inbound/twilio", from_, to, body, **options)


def _inbound(api: ApiClient) -> list[dict[str, Any]]:
    return api.get("/api/v1/texts?filter[direction]=inbound").data


def _replies(twilio: TwilioSetup, to: str) -> list[str]:
    """Bodies the sink took from OURS to `to` that are not campaign texts."""
    return [
        m.body
        for m in twilio.sink.messages
        if m.to == to and m.from_ == OURS and not m.body.startswith("Hello")
    ]


def _opt_outs(api: ApiClient) -> dict[str, str]:
    return {
        item["attributes"]["phone-number"]: item["attributes"]["source"]
        for item in api.get("/api/v1/opt-outs").data
    }


def test_a_reply_is_stored_inbound_and_linked_to_the_envelope_that_texted_the_sender(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    engagement_id = _texted(app, api)
    answer = _incoming(twilio, ALEXANDER, "Thanks, see you Friday!")
    assert (answer.status_code, answer.headers["content-type"]) == (200, "text/xml")
    assert answer.text.endswith("<Response/>")
    [received] = _inbound(api)
    attributes = received["attributes"]
    assert (attributes["direction"], attributes["status"]) == ("inbound", "received")
    assert (attributes["from"], attributes["to"], attributes["body"]) == (
        ALEXANDER,
        OURS,
        "Thanks, see you Friday!",
    )
    assert attributes["provider-message-id"].startswith("SM")
    assert received["relationships"]["engagement"]["data"]["id"] == engagement_id
    [sent] = [
        text
        for text in api.get(f"/api/v1/texts?filter[engagement]={engagement_id}").data
        if text["attributes"]["to"] == ALEXANDER and text["attributes"]["direction"] == "outbound"
    ]
    assert (
        received["relationships"]["envelope"]["data"]["id"]
        == sent["relationships"]["envelope"]["data"]["id"]
    )
    outbound = api.get("/api/v1/texts?filter[direction]=outbound").data
    assert {text["attributes"]["direction"] for text in outbound} == {"outbound"}
    assert len(outbound) == 2
    assert_error(
        api.get("/api/v1/texts?filter[direction]=sideways"),
        400,
        parameter="filter[direction]",
    )
    # A text from someone the account never texted is stored, linked to nothing.
    assert _incoming(twilio, STRANGER, "Who is this?").status_code == 200
    [stranger] = [t for t in _inbound(api) if t["attributes"]["from"] == STRANGER]
    assert stranger["relationships"]["engagement"]["data"] is None
    assert stranger["relationships"]["envelope"]["data"] is None


def test_stop_opts_out_confirms_once_and_a_retried_delivery_changes_nothing(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    _texted(app, api)
    for _ in range(3):  # Twilio retries a delivery it had no answer for: same MessageSid
        assert _incoming(twilio, ALEXANDER, "  Stop. ", sid=SID).status_code == 200
    assert len(_inbound(api)) == 1
    assert _opt_outs(api) == {ALEXANDER: "keyword"}
    drain(app)
    assert _replies(twilio, ALEXANDER) == [DEFAULT_REPLIES[Keyword.OPT_OUT]]
    [reply] = [
        text
        for text in api.get("/api/v1/texts?filter[direction]=outbound").data
        if text["relationships"]["engagement"]["data"] is None
    ]
    assert (reply["attributes"]["to"], reply["attributes"]["from"]) == (ALEXANDER, OURS)
    assert reply["attributes"]["status"] == "sent"
    # Another STOP (a new message) is stored but asks nothing new: no second confirmation.
    assert _incoming(twilio, ALEXANDER, "STOPALL").status_code == 200
    drain(app)
    assert len(_inbound(api)) == 2
    assert _replies(twilio, ALEXANDER) == [DEFAULT_REPLIES[Keyword.OPT_OUT]]


def test_start_opts_back_in_and_yes_from_a_subscribed_number_is_an_ordinary_reply(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    _texted(app, api)
    _incoming(twilio, ALEXANDER, "UNSUBSCRIBE")
    _incoming(twilio, ALEXANDER, "start")
    assert _opt_outs(api) == {}
    _incoming(twilio, MICHAEL, "Yes")  # never opted out: nothing to confirm
    drain(app)
    assert _replies(twilio, ALEXANDER) == [
        DEFAULT_REPLIES[Keyword.OPT_OUT],
        DEFAULT_REPLIES[Keyword.OPT_IN],
    ]
    assert _replies(twilio, MICHAEL) == []
    assert len(_inbound(api)) == 3


def test_help_is_answered_at_most_once_an_hour_even_to_an_opted_out_number(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    _texted(app, api)
    _incoming(twilio, MICHAEL, "STOP")
    _incoming(twilio, MICHAEL, "HELP")
    _incoming(twilio, MICHAEL, "info")
    drain(app)
    assert _replies(twilio, MICHAEL) == [
        DEFAULT_REPLIES[Keyword.OPT_OUT],
        DEFAULT_REPLIES[Keyword.HELP],
    ]


def test_the_accounts_own_replies_are_sent_and_null_restores_the_default(
    app: Flask, api: ApiClient, other_api: ApiClient, twilio: TwilioSetup
) -> None:
    listed = api.get("/api/v1/account-replies").data
    assert {r["attributes"]["keyword"]: r["attributes"]["is-default"] for r in listed} == {
        "opt-out": True,
        "opt-in": True,
        "help": True,
    }
    help_id = next(r["id"] for r in listed if r["attributes"]["keyword"] == "help")
    changed = api.patch(
        f"/api/v1/account-replies/{help_id}",
        resource("account-replies", {"body": "Acme Deals: help at acme.example. STOP to end."},
                 id_=help_id),
    )  # fmt: skip
    assert changed.status == 200, changed.document
    assert changed.data["attributes"]["is-default"] is False
    # Another account cannot see or change it.
    assert other_api.get(f"/api/v1/account-replies/{help_id}").status == 404
    _texted(app, api)
    _incoming(twilio, ALEXANDER, "HELP")
    drain(app)
    assert _replies(twilio, ALEXANDER) == ["Acme Deals: help at acme.example. STOP to end."]
    restored = api.patch(
        f"/api/v1/account-replies/{help_id}",
        resource("account-replies", {"body": None}, id_=help_id),
    )
    assert restored.data["attributes"]["body"] == DEFAULT_REPLIES[Keyword.HELP]
    assert restored.data["attributes"]["is-default"] is True


@pytest.mark.parametrize(
    ("body", "detail"),
    [("", "non-empty"), ("   ", "non-empty"), (7, "string"), ("x" * 1601, "1600"),
     ("a\x00b", "NUL")],
)  # fmt: skip
def test_a_bad_reply_body_is_refused_at_its_pointer(
    app: Flask, api: ApiClient, body: object, detail: str
) -> None:
    reply_id = api.get("/api/v1/account-replies").data[0]["id"]
    with unchanged(app):
        refused = api.patch(
            f"/api/v1/account-replies/{reply_id}",
            resource("account-replies", {"body": body}, id_=reply_id),
        )
        assert_error(refused, 400, pointer="/data/attributes/body", detail=detail)


def test_account_replies_cannot_be_created_or_deleted(api: ApiClient) -> None:
    reply_id = api.get("/api/v1/account-replies").data[0]["id"]
    assert api.post("/api/v1/account-replies", resource("account-replies", {})).status == 405
    assert api.delete(f"/api/v1/account-replies/{reply_id}").status == 405


def test_a_text_to_a_number_no_account_holds_is_answered_and_not_stored(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    _texted(app, api)
    before = row_count(app, "texts")
    for to in ("+18005550199", "ALPHA"):
        answer = _incoming(twilio, ALEXANDER, "STOP", to=to)
        assert (answer.status_code, answer.text.endswith("<Response/>")) == (200, True)
    assert row_count(app, "texts") == before
    assert _opt_outs(api) == {}


def test_forged_unsigned_and_oversized_deliveries_are_refused_and_store_nothing(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    _texted(app, api)
    with unchanged(app):
        forged = twilio.sink.incoming_params(ALEXANDER, OURS, "STOP")
        for signature in ("", "bm90IGEgc2lnbmF0dXJl"):
            answer = _incoming(twilio, ALEXANDER, "STOP", signature=signature)
            assert answer.status_code == 403
            assert answer.json()["errors"][0]["source"] == {"header": "X-Twilio-Signature"}
        assert _incoming(twilio, ALEXANDER, "x" * 1601).status_code == 400
        assert _incoming(twilio, "not a number", "STOP").status_code == 400
        assert forged["Body"] == "STOP"


def test_a_1600_character_and_a_non_gsm_body_are_stored_exactly(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    _texted(app, api)
    longest, cyrillic = "x" * 1600, "Стоп, пожалуйста 🙏"
    assert _incoming(twilio, ALEXANDER, longest).status_code == 200
    assert _incoming(twilio, MICHAEL, cyrillic).status_code == 200
    bodies = {text["attributes"]["from"]: text["attributes"] for text in _inbound(api)}
    assert (bodies[ALEXANDER]["body"], bodies[ALEXANDER]["segments"]) == (longest, 11)
    assert bodies[MICHAEL]["body"] == cyrillic
    assert _opt_outs(api) == {}  # neither is a keyword


def test_an_inbound_text_belongs_to_the_account_that_holds_the_number(
    app: Flask, api: ApiClient, other_api: ApiClient, twilio: TwilioSetup
) -> None:
    _texted(app, api)
    with app.app_context():
        make_phone_number(account_id=other_api.credentials.account_id, number="+15195550111")
    _incoming(twilio, ALEXANDER, "STOP", to="+15195550111")
    assert _opt_outs(api) == {}
    assert _opt_outs(other_api) == {ALEXANDER: "keyword"}
    assert _inbound(api) == []
    assert len(_inbound(other_api)) == 1


def test_the_carriers_21610_records_an_opt_out_at_send_time_and_in_a_receipt(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    twilio.sink.reject(MICHAEL, code=21610)
    _texted(app, api)
    assert _opt_outs(api) == {MICHAEL: "carrier"}
    [alexander] = [m for m in twilio.sink.messages if m.to == ALEXANDER]
    assert twilio.sink.deliver("undelivered", 21610, messages=[alexander]) == [204]
    assert _opt_outs(api) == {MICHAEL: "carrier", ALEXANDER: "carrier"}


def test_a_reply_fires_the_text_reply_trigger_and_a_split_branches_on_it(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    """TextIt's survey: ask, wait for the answer, branch on it."""
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=100)
    engagement_id = flows.engagement(api)
    ask = flows.text(api, engagement_id, "Ask", "Coming Friday? Reply YES or NO", phone_id)
    split = flows.activity(
        api,
        engagement_id,
        "answer",
        "split",
        variable="reply",
        rules=[{"category": "Coming", "test": "equals", "arguments": ["yes"]}],
    )
    coming = flows.text(api, engagement_id, "Coming", "See you Friday!", phone_id)
    other = flows.text(api, engagement_id, "Other", "Sorry to miss you.", phone_id)
    flows.trigger(api, ask, split, "text-reply")
    flows.trigger(api, split, coming, "split", category="Coming")
    flows.trigger(api, split, other, "split", category="Other")
    yes, no = flows.add_envelopes(api, engagement_id, (ALEXANDER, {}), (MICHAEL, {}))
    flows.schedule(api, engagement_id)
    drain(app)
    waiting = flows.run_of(api, yes)
    assert (waiting["status"], waiting["exit-type"]) == ("processing", None)
    engagement = api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]
    assert (engagement["status"], engagement["count-hold"]) == ("sending", 2)
    _incoming(twilio, ALEXANDER, "Yes")  # an ordinary reply: ALEXANDER never opted out
    _incoming(twilio, MICHAEL, "Can't, sorry")
    drain(app)
    assert sorted(m.body for m in twilio.sink.messages if m.to == ALEXANDER)[-1] == (
        "See you Friday!"
    )
    assert [m.body for m in twilio.sink.messages if m.to == MICHAEL][-1] == "Sorry to miss you."
    answered = flows.run_of(api, yes)
    assert answered["values"]["reply"]["value"] == "Yes"
    assert [step["event"] for step in answered["path"]] == [
        "text-sent",
        "text-reply",
        "split",
        "text-sent",
    ]
    assert (answered["exit-type"], flows.run_of(api, no)["exit-type"]) == (
        "completed",
        "completed",
    )
    # A second answer finds the run past that step: stored, nothing more sent.
    sent = len(twilio.sink.messages)
    _incoming(twilio, ALEXANDER, "yes yes")
    drain(app)
    assert len(twilio.sink.messages) == sent
    engagement = api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]
    assert (engagement["status"], engagement["count-complete"]) == ("completed", 2)


def test_a_burst_of_1000_inbound_texts_is_absorbed_without_a_5xx(
    app: Flask, api: ApiClient, twilio: TwilioSetup
) -> None:
    """1,000 deliveries from 1,000 senders, 16 at a time (Twilio's own concurrency per number
    is far lower), every tenth a STOP: each answered 200, each stored once, each STOP on file
    with its confirmation queued."""
    with app.app_context():
        make_phone_number(account_id=api.credentials.account_id)
    senders = [f"+1416555{index:04d}" for index in range(1000)]
    bodies = {number: "STOP" if index % 10 == 0 else f"reply {index}" for index, number in
              enumerate(senders)}  # fmt: skip

    def deliver(number: str) -> int:
        return _incoming(twilio, number, bodies[number]).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(deliver, senders))
    assert statuses == {200: 1000}
    assert row_count(app, "texts") == 1000 + 100  # the inbound texts and the confirmations
    assert row_count(app, "opt_outs") == 100
