"""Per-account API rate limits against the real stack (Redis's own clock and the GCRA script):
the RateLimit fields on every answer, 429 with Retry-After over the limit, a bulk upload one
request, the account's override, one account's flood costing another nothing, and Redis down
serving requests unlimited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from flask import Flask

from campaign.extensions import db, redis_store
from campaign.limits.rates import Rate
from campaign.models import Account
from tests.assertions import assert_error
from tests.client import ApiClient
from tests.factories import BULK, envelope, resource
from tests.servers import configured, free_port

TEMPLATES = "/api/v1/text-templates"


def _limit(app: Flask, api: ApiClient, rate_limit: str | None) -> None:
    with app.app_context():
        account = db.session.get(Account, api.credentials.account_id)
        assert account is not None
        account.rate_limit = rate_limit
        db.session.commit()


def test_every_api_answer_states_the_accounts_limit(api: ApiClient) -> None:
    first, second = api.get(TEMPLATES), api.get(TEMPLATES)
    assert first.headers["RateLimit-Limit"] == "3600"
    assert (first.headers["RateLimit-Remaining"], second.headers["RateLimit-Remaining"]) == (
        "3599",
        "3598",
    )
    assert 0 < int(second.headers["RateLimit-Reset"]) <= 2
    assert "Retry-After" not in second.headers
    # Errors count and say so too.
    missing = api.get(f"{TEMPLATES}/nope")
    assert (missing.status, missing.headers["RateLimit-Remaining"]) == (404, "3597")


def test_over_the_limit_is_a_429_with_retry_after_and_changes_nothing(
    app: Flask, api: ApiClient
) -> None:
    _limit(app, api, "3/minute")
    for _ in range(3):
        assert api.get(TEMPLATES).status == 200
    refused = api.post(TEMPLATES, resource("text-templates", {"name": "t", "body": "Hi"}))
    error = assert_error(refused, 429, header="X-Account-Key", detail="3/minute")
    assert error["title"] == "Too many requests"
    assert refused.headers["Retry-After"] == "20"
    assert (refused.headers["RateLimit-Remaining"], refused.headers["RateLimit-Limit"]) == (
        "0",
        "3",
    )
    with app.app_context():
        _limit(app, api, "off")
    assert api.get(TEMPLATES).data == []  # the refused POST stored nothing


def test_a_bulk_upload_is_one_request(app: Flask, api: ApiClient) -> None:
    engagement = api.post(
        "/api/v1/engagements",
        resource("engagements", {"name": "Bulk", "direction": "outbound"}),
    )
    _limit(app, api, "2/minute")
    numbers = [f"+1519{7000000 + index:07d}" for index in range(500)]
    uploaded = api.post(
        "/api/v1/envelopes",
        {"data": [envelope(engagement.data["id"], number) for number in numbers]},
        headers=BULK,
    )
    assert uploaded.status == 201, uploaded.document
    assert uploaded.headers["RateLimit-Remaining"] == "1"


def test_hammering_one_account_costs_another_nothing(
    app: Flask, api: ApiClient, other_api: ApiClient
) -> None:
    _limit(app, api, "5/hour")
    statuses = [api.get(TEMPLATES).status for _ in range(50)]
    assert statuses == [200] * 5 + [429] * 45
    other = [other_api.get(TEMPLATES) for _ in range(5)]
    assert [reply.status for reply in other] == [200] * 5
    assert other[-1].headers["RateLimit-Remaining"] == "3595"


def test_the_setting_applies_to_accounts_without_their_own(api: ApiClient, app: Flask) -> None:
    with configured(app, API_RATE_LIMIT=Rate(2, 1)):
        assert [api.get(TEMPLATES).status for _ in range(3)] == [200, 200, 429]
        assert api.get(TEMPLATES).headers["Retry-After"] == "1"
    with configured(app, API_RATE_LIMIT=None):  # off
        reply = api.get(TEMPLATES)
        assert reply.status == 200 and "RateLimit-Limit" not in reply.headers


@contextmanager
def _redis_down(app: Flask) -> Iterator[None]:
    """The app's Redis client pointed at a port nothing listens on."""
    saved = app.extensions["campaign-redis"]
    app.extensions["campaign-redis"] = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    try:
        yield
    finally:
        app.extensions["campaign-redis"] = saved


def test_with_redis_down_requests_are_served_unlimited(app: Flask, api: ApiClient) -> None:
    _limit(app, api, "1/hour")
    assert api.get(TEMPLATES).status == 200
    assert api.get(TEMPLATES).status == 429
    with _redis_down(app):
        served = [api.get(TEMPLATES) for _ in range(3)]
    assert [reply.status for reply in served] == [200] * 3
    assert all("RateLimit-Limit" not in reply.headers for reply in served)
    with app.app_context():
        assert redis_store.connection.ping()
    assert api.get(TEMPLATES).status == 429  # counted again once Redis answers


def test_an_unauthenticated_flood_is_refused_before_it_is_counted(
    app: Flask, api: ApiClient
) -> None:
    _limit(app, api, "1/hour")
    for _ in range(5):
        reply = api.get(TEMPLATES, headers={"Authorization": "Basic bm9wZTpub3Bl"})
        assert reply.status == 401 and "RateLimit-Limit" not in reply.headers
    assert api.get(TEMPLATES).status == 200  # the account's one request is still there
