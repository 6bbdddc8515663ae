"""The RQ dashboard at /rq: present only when credentials are configured, and behind them."""

from __future__ import annotations

import base64

from flask import Flask

from campaign import create_app


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_dashboard_requires_its_credentials(app_environment: dict[str, str]) -> None:
    app = create_app(
        {**app_environment, "RQ_DASHBOARD_USERNAME": "ops", "RQ_DASHBOARD_PASSWORD": "s3cret"}
    )
    client = app.test_client()
    assert client.get("/rq/").status_code == 401
    assert client.get("/rq/", headers=_basic("ops", "wrong")).status_code == 401
    assert client.get("/rq/", headers=_basic("ops", "s3cret")).status_code == 200
    queues = client.get("/rq/0/data/queues.json", headers=_basic("ops", "s3cret")).get_json()
    assert isinstance(queues["queues"], list)


def test_dashboard_is_absent_without_credentials(app: Flask) -> None:
    assert app.test_client().get("/rq/").status_code == 404
