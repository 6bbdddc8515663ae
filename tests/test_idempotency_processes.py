"""Idempotency-Key across a web worker killed mid-request, with the web process as the Procfile
runs it (gunicorn): the key the dead request claimed answers 409 while its lease runs, and is
taken over once the lease ends, so it is never stuck."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import psutil
from flask import Flask
from sqlalchemy import func, select

from campaign.extensions import db
from campaign.models import IdempotentRequest
from tests import flows_api as flows
from tests.assertions import assert_error
from tests.client import ApiClient, LoopbackClient
from tests.factories import Credentials
from tests.servers import wait_until_answering, web_process
from tests.sinks.web_service import Answer, Seen, Server, json_answer

LEASE = 3  # CAMPAIGN_IDEMPOTENCY_LEASE, seconds
KEY = {"Idempotency-Key": "try-the-lookup-1"}


class FirstCallHangs:
    """The customer's service: its first call is answered only after the test; later ones at
    once."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self.server = Server(self.route)

    def route(self, seen: Seen) -> Answer:
        with self._lock:
            self.calls += 1
            first = self.calls == 1
        return Answer(200, b'{"code": 7}', delay=30.0) if first else json_answer({"code": 7})


def _claims(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(IdempotentRequest))
        db.session.remove()
    return int(count or 0)


def test_a_key_held_by_a_killed_web_worker_is_taken_over_once_its_lease_ends(
    app: Flask, app_environment: dict[str, str], account: Credentials, tmp_path: Path
) -> None:
    service = FirstCallHangs()
    try:
        with web_process(
            app_environment,
            tmp_path / "web.log",
            WEB_CONCURRENCY=1,
            SMS_PROVIDER="console",
            CAMPAIGN_IDEMPOTENCY_LEASE=LEASE,
            CAMPAIGN_WEB_CALL_ALLOW_HOSTS=service.server.allow,
        ) as web:
            api = ApiClient(LoopbackClient(web.base_url), account)
            engagement_id = flows.engagement(api)
            lookup = flows.activity(
                api,
                engagement_id,
                "Lookup",
                "web-call",
                url=service.server.url("/code"),
                timeout=60,
            )
            path = f"/api/v1/activities/{lookup}/test-requests"
            body = {"data": {"type": "test-requests", "attributes": {"variables": {}}}}
            outcome: list[object] = []

            def first_request() -> None:
                try:
                    outcome.append(api.post(path, body, headers=KEY).status)
                except httpx.HTTPError as exc:
                    outcome.append(exc)

            thread = threading.Thread(target=first_request, daemon=True)
            thread.start()
            deadline = time.monotonic() + 20
            while service.calls < 1 or _claims(app) < 1:
                assert time.monotonic() < deadline, "the first request never reached its call"
                time.sleep(0.1)
            claimed_at = time.monotonic()
            # SIGKILL the worker mid-request: it stores nothing and releases nothing.
            for worker in psutil.Process(web.pid).children():
                worker.send_signal(signal.SIGKILL)
            thread.join(timeout=20)
            assert outcome and outcome[0] != 200, outcome
            master = psutil.Process(web.pid)
            assert master.is_running()
            deadline = time.monotonic() + 20
            while not master.children():
                assert time.monotonic() < deadline, "gunicorn did not replace its worker"
                time.sleep(0.1)
            wait_until_answering(web.base_url, _Running(web.pid), web.log_path)
            if time.monotonic() - claimed_at < LEASE - 0.5:
                assert_error(api.post(path, body, headers=KEY), 409, header="Idempotency-Key")
            time.sleep(max(0.0, LEASE + 0.5 - (time.monotonic() - claimed_at)))
            retried = api.post(path, body, headers=KEY)
            assert retried.status == 200, retried.document
            assert "Idempotent-Replayed" not in retried.headers
            assert retried.data["attributes"]["variables"] == {"code": "7"}
            again = api.post(path, body, headers=KEY)
            assert (again.status, again.headers["Idempotent-Replayed"]) == (200, "true")
            assert service.calls == 2  # the dead request's call and the retry's, no third
    finally:
        service.server.close()


class _Running:
    """`poll()` for a process that is not a child of this one (the gunicorn master is)."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)

    def poll(self) -> int | None:
        return None if self._process.is_running() else 1
