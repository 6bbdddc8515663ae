"""Attacks on the RQ dashboard at /rq: non-ASCII Basic credentials, and cross-site requests that
would change queue state under a browser's cached credentials (a failed job in real Redis)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from flask import Flask
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus

from campaign import create_app
from campaign.extensions import redis_store

QUEUE = "dashboard-probe"


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


OPS = _basic("ops", "s3cret")


@pytest.fixture
def dashboard(app: Flask, app_environment: dict[str, str]) -> Iterator[Flask]:
    """The app with the dashboard on (the session app's Redis, flushed per test)."""
    application = create_app(
        {**app_environment, "RQ_DASHBOARD_USERNAME": "ops", "RQ_DASHBOARD_PASSWORD": "s3cret"}
    )
    with application.app_context():
        yield application


@pytest.fixture
def failed_job(dashboard: Flask) -> Job:
    """A job that really failed in a real worker, sitting in its queue's failed registry."""
    connection = redis_store.connection
    queue = Queue(QUEUE, connection=connection)
    job = queue.enqueue("math.sqrt", -1)  # ValueError in the worker
    SimpleWorker([queue], connection=connection).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FAILED
    # The operator has the dashboard open in a browser, which polls this.
    assert dashboard.test_client().get("/rq/0/data/queues.json", headers=OPS).status_code == 200
    return job


def _status(job: Job) -> JobStatus | None:
    return job.get_status(refresh=True)


@pytest.mark.parametrize(
    "credentials", [_basic("öps", "s3cret"), _basic("ops", "sécret"), _basic("ops", "s3cret€")]
)
def test_non_ascii_basic_credentials_are_401(dashboard: Flask, credentials: dict[str, str]) -> None:
    response = dashboard.test_client().get("/rq/", headers=credentials)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="rq-dashboard"')
    assert response.get_json()["errors"][0]["status"] == "401"


def test_non_ascii_configured_credentials_still_work(app_environment: dict[str, str]) -> None:
    application = create_app(
        {**app_environment, "RQ_DASHBOARD_USERNAME": "öps", "RQ_DASHBOARD_PASSWORD": "sécret"}
    )
    client = application.test_client()
    assert client.get("/rq/", headers=_basic("öps", "sécret")).status_code == 200
    assert client.get("/rq/", headers=_basic("ops", "secret")).status_code == 401


def test_get_requeue_does_not_requeue(dashboard: Flask, failed_job: Job) -> None:
    response = dashboard.test_client().get(f"/rq/requeue/{QUEUE}", headers=OPS)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.get_json()["errors"][0]["status"] == "405"
    assert _status(failed_job) == JobStatus.FAILED


STATE_CHANGES = [
    f"/rq/requeue/{QUEUE}",
    "/rq/job/{job}/requeue",
    "/rq/job/{job}/delete",
    f"/rq/queue/{QUEUE}/failed/empty",
    f"/rq/queue/{QUEUE}/compact",
]


@pytest.mark.parametrize("path", STATE_CHANGES)
def test_get_to_a_state_changing_route_is_refused(
    dashboard: Flask, failed_job: Job, path: str
) -> None:
    response = dashboard.test_client().get(path.format(job=failed_job.id), headers=OPS)
    assert response.status_code == 405
    assert _status(failed_job) == JobStatus.FAILED


@pytest.mark.parametrize("path", STATE_CHANGES)
@pytest.mark.parametrize(
    "origin",
    [
        {},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
def test_a_post_not_from_the_dashboard_is_refused(
    dashboard: Flask, failed_job: Job, path: str, origin: dict[str, str]
) -> None:
    response = dashboard.test_client().post(
        path.format(job=failed_job.id), headers={**OPS, **origin}
    )
    assert response.status_code == 403
    assert response.get_json()["errors"][0]["source"] == {"header": "Origin"}
    assert _status(failed_job) == JobStatus.FAILED


@pytest.mark.parametrize(
    "origin", [{"Sec-Fetch-Site": "same-origin"}, {"Origin": "http://localhost"}]
)
def test_a_same_origin_post_requeues(
    dashboard: Flask, failed_job: Job, origin: dict[str, str]
) -> None:
    response = dashboard.test_client().post(f"/rq/requeue/{QUEUE}", headers={**OPS, **origin})
    assert response.status_code == 200
    assert response.get_json() == {"status": "OK", "count": 1}
    assert _status(failed_job) == JobStatus.QUEUED
