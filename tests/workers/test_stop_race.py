"""A STOP racing a running campaign, with a real `campaign worker` process and a slow sender:
once the STOP has been answered (so stored), nothing more goes to that number but a request
already on the wire; its queued text ends `failed` `opted-out`, and the STOP is confirmed once,
ahead of the campaign's own texts."""

from __future__ import annotations

import time

from flask import Flask

from campaign.compliance.keywords import Keyword
from campaign.models.account_reply import DEFAULT_REPLIES
from tests.campaign_runs import (
    Workers,
    settled,
    start_campaign,
    text_statuses,
    wait_until,
)
from tests.client import ApiClient
from tests.loopback_twilio import TwilioSetup

OURS = "+15195550100"
SIZE, THROUGHPUT = 40, 8
# A request that left before the STOP's commit may land at the sink a moment after the answer.
ON_THE_WIRE = 0.25
CONFIRMATION = DEFAULT_REPLIES[Keyword.OPT_OUT]


def test_after_a_stop_is_stored_only_texts_already_handed_to_the_carrier_go(
    app: Flask, api: ApiClient, twilio: TwilioSetup, workers: Workers
) -> None:
    engagement_id = start_campaign(app, api, size=SIZE, throughput=THROUGHPUT)
    workers.start()
    wait_until(lambda: len(twilio.sink.messages) >= 4, 30, "the campaign did not start")
    # Rounds are claimed a second of the sender's pace at a time: some texts of these numbers
    # are claimed and waiting for their slots while their STOPs arrive.
    texted = {message.to for message in twilio.sink.messages}
    everyone = ["+15197566220", *(f"+1519{7000000 + index:07d}" for index in range(SIZE - 1))]
    stopping = [number for number in everyone if number not in texted][::2]
    answered: dict[str, float] = {}
    for number in stopping:
        reply = twilio.sink.incoming(twilio.base_url + "/inbound/twilio", number, OURS, "STOP")
        assert reply.status_code == 200
        answered[number] = time.monotonic()
    wait_until(
        lambda: settled(app, engagement_id, SIZE),
        60,
        lambda: f"the campaign did not settle: {text_statuses(app, engagement_id)}",
    )

    campaign_texts = [m for m in twilio.sink.messages if m.body != CONFIRMATION]
    late = [
        (m.to, round(m.received - answered[m.to], 3))
        for m in campaign_texts
        if m.to in answered and m.received > answered[m.to] + ON_THE_WIRE
    ]
    assert late == [], "texts left after their recipient's STOP was stored"
    texts = {
        text["attributes"]["to"]: text["attributes"]
        for text in api.get(f"/api/v1/texts?filter[engagement]={engagement_id}&page[size]=100").data
    }
    held = [number for number in stopping if texts[number]["error-code"] == "opted-out"]
    sent_before = {m.to for m in campaign_texts} & set(stopping)
    assert sorted(held + sorted(sent_before)) == sorted(stopping)
    assert len(held) >= len(stopping) // 2, "the race left too few texts to hold back"
    everyone_else = set(everyone) - set(stopping)
    assert {m.to for m in campaign_texts} >= everyone_else
    wait_until(
        lambda: sum(m.body == CONFIRMATION for m in twilio.sink.messages) == len(stopping),
        30,
        "a STOP was not confirmed",
    )
    confirmed = [m.to for m in twilio.sink.messages if m.body == CONFIRMATION]
    assert sorted(confirmed) == sorted(stopping)
    engagement = api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]
    wait_until(
        lambda: (
            api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]["status"]
            == "completed"
        ),
        30,
        "the engagement did not complete",
    )
    engagement = api.get(f"/api/v1/engagements/{engagement_id}").data["attributes"]
    assert (engagement["count-hold"], engagement["count-incomplete"]) == (len(held), 0)
    assert engagement["count-complete"] == SIZE - len(held)
