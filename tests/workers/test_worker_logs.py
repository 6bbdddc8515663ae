"""A real `campaign worker`'s log while it sends a campaign: one JSON object per line, the ids
of what a line is about as fields, no secret, and nothing about the housekeeping jobs but what
they found."""

from __future__ import annotations

import json
import time
from pathlib import Path

from flask import Flask

from tests.campaign_runs import (
    Workers,
    start_campaign,
    stored_engagement,
    wait_until,
    worker_environment,
)
from tests.client import ApiClient
from tests.loopback_twilio import TwilioSetup

SECRET_KEY = "flask-secret-for-the-log-test"


def test_the_worker_log_is_json_lines_with_ids_and_no_secret_or_chatter(
    app: Flask,
    api: ApiClient,
    twilio: TwilioSetup,
    app_environment: dict[str, str],
    tmp_path: Path,
) -> None:
    env = worker_environment(
        app_environment, twilio, SECRET_KEY=SECRET_KEY, CAMPAIGN_SWEEP_INTERVAL=0.5
    )
    workers = Workers(env, tmp_path)
    engagement_id = start_campaign(app, api, size=5, throughput=5)
    worker = workers.start()
    try:
        wait_until(
            lambda: stored_engagement(app, engagement_id).status == "completed", 60, worker.log
        )
        # Sweeps are asked for every half second: at least a few ran, finding nothing.
        time.sleep(2)
    finally:
        assert worker.stop() == 0, worker.log()
    text = worker.log()

    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    [completed] = [line for line in lines if "engagement completed" in line["message"]]
    assert completed["engagement_id"] == engagement_id
    # Recounted inline by the send job of the last round, or by a queued recount.
    assert str(completed["job_id"]).startswith(
        (f"send-{engagement_id}-", f"progress-{engagement_id}-")
    )
    assert completed["message"] == (
        "the engagement completed: 5 of 5 texts taken by the carrier, 0 not"
    )
    for quiet in ("sweep", "refresh_engagement", "progress-"):
        assert not [line for line in lines if quiet in line["message"]], quiet
    assert [line for line in lines if "send_text_batch" in line["message"]]
    for secret in (SECRET_KEY, twilio.sink.auth_token):
        assert secret not in text
