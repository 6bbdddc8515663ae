"""The rate limit of an API request: counted in the API guard right after authentication, the
decision kept for the response's headers (`RateLimit-*` on every limited answer, 429's
`Retry-After` too)."""

from __future__ import annotations

from flask import Response, current_app, g

from campaign.auth import current_account
from campaign.errors import TooManyRequests
from campaign.extensions import redis_store
from campaign.limits.limiter import take
from campaign.limits.rates import Rate, parse_rate

_DECISION = "rate_limit_decision"


def account_rate() -> Rate | None:
    """The current account's limit: its own override, else CAMPAIGN_API_RATE_LIMIT."""
    override = current_account().rate_limit
    if override is not None:
        return parse_rate(override)
    rate: Rate | None = current_app.config["API_RATE_LIMIT"]
    return rate


def limit_request() -> None:
    """Count this request against its account; raise TooManyRequests over the limit."""
    rate = account_rate()
    if rate is None:
        return
    decision = take(redis_store.connection, current_account().id, rate)
    if decision is None:
        return  # Redis unreachable: served, unlimited (logged by the limiter)
    setattr(g, _DECISION, decision)
    if not decision.allowed:
        raise TooManyRequests(
            f"this account may make {rate} requests; try again in {decision.retry_after} s",
            header="X-Account-Key",
        )


def add_headers(response: Response) -> Response:
    """The counted request's RateLimit fields (and Retry-After) on its response."""
    decision = g.get(_DECISION)
    if decision is not None:
        response.headers.update(decision.headers())
    return response
