"""The seed campaign through the real Kannel gateway (bearerbox + smsbox + fakesmsc), with the
delivery reports coming back to the service over HTTP."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.client import ApiClient
from tests.factories import build_seed_campaign, make_phone_number, resource
from tests.jobs import drain
from tests.kannel_gateway import KannelGateway, kannel_available
from tests.servers import configured, serve

pytestmark = pytest.mark.skipif(
    not kannel_available() and not os.environ.get("CI"),
    reason="Kannel is not installed (apt-get install kannel kannel-extras); CI installs it",
)


@pytest.fixture
def kannel(app: Flask, tmp_path: Path) -> Iterator[KannelGateway]:
    with (
        KannelGateway(tmp_path / "kannel") as gateway,
        serve(app) as base_url,
        configured(
            app,
            SMS_PROVIDER="kannel",
            KANNEL_SENDSMS_URL=gateway.sendsms_url,
            KANNEL_USERNAME=gateway.username,
            KANNEL_PASSWORD=gateway.password,
            PUBLIC_BASE_URL=base_url,
        ),
    ):
        yield gateway


def test_seed_campaign_is_delivered_through_kannel(
    app: Flask, api: ApiClient, kannel: KannelGateway
) -> None:
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=50)
    seed = build_seed_campaign(api, phone_id)
    assert (
        api.patch(
            f"/api/v1/engagements/{seed.engagement_id}",
            resource(
                "engagements",
                {"status": "scheduled", "delivery-type": "immediately"},
                id_=seed.engagement_id,
            ),
        ).status
        == 202
    )
    drain(app)
    received = kannel.wait_for(2, timeout=10)
    assert sorted((sms.receiver, sms.text) for sms in received) == [
        ("+15197566220", "Hello Alexander, text templates support variables."),
        ("+19734390088", "Hello Michael, text templates support variables."),
    ]
    assert {sms.sender for sms in received} == {"+15195550100"}

    # fakesmsc reports each message accepted (DLR 8), then delivered (DLR 1).
    deadline = time.monotonic() + 15
    statuses: set[str] = set()
    while time.monotonic() < deadline:
        texts = api.get(f"/api/v1/texts?filter[engagement]={seed.engagement_id}").data
        statuses = {text["attributes"]["status"] for text in texts}
        if statuses == {"delivered"}:
            break
        time.sleep(0.2)
    assert statuses == {"delivered"}
    drain(app)
    engagement = api.get(f"/api/v1/engagements/{seed.engagement_id}").data["attributes"]
    assert (engagement["status"], engagement["count-complete"]) == ("completed", 2)
