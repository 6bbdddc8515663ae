"""The RQ dashboard at /rq: mounted only when its credentials are set, behind HTTP Basic, and its
state-changing routes only for same-origin POSTs, so a cross-site page cannot ride on a browser's
cached credentials (rq-dashboard itself accepts `GET /requeue/<queue>` and any-origin POSTs)."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Flask, Request, Response, request

from campaign.errors import ApiError, Forbidden, Unauthorized
from campaign.jsonapi import error_response

REALM = 'Basic realm="rq-dashboard", charset="UTF-8"'
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def register_dashboard(app: Flask) -> None:
    """Mount rq-dashboard at /rq when RQ_DASHBOARD_USERNAME and _PASSWORD are both set."""
    username, password = app.config["RQ_DASHBOARD_USERNAME"], app.config["RQ_DASHBOARD_PASSWORD"]
    if not username or not password:
        return
    import rq_dashboard

    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", [app.config["REDIS_URL"]])
    app.config.setdefault("RQ_DASHBOARD_POLL_INTERVAL", 2500)
    app.config.setdefault("RQ_DASHBOARD_WEB_BACKGROUND", "black")
    app.config.setdefault("RQ_DASHBOARD_DELETE_JOBS", False)

    def guard() -> Response | None:
        if request.blueprint != rq_dashboard.blueprint.name:
            return None
        if not has_credentials(request, username, password):
            response = error_response(
                [Unauthorized("the RQ dashboard needs its HTTP Basic credentials")], 401
            )
            response.headers["WWW-Authenticate"] = REALM
            return response
        refusal = state_change_refusal(request)
        if refusal is None:
            return None
        response = error_response([refusal], refusal.status)
        if refusal.status == 405:
            response.headers["Allow"] = "POST"
        return response

    app.before_request(guard)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix="/rq")
    # Its routes without an instance number (all the actions) use the app's connection, which
    # only its own command line sets up otherwise.
    rq_dashboard.web.setup_rq_connection(app)


def has_credentials(req: Request, username: str, password: str) -> bool:
    """True when the request carries exactly these Basic credentials.

    Compared as UTF-8 bytes: `hmac.compare_digest` raises on non-ASCII `str`, which made any
    non-ASCII username or password a 500.
    """
    auth = req.authorization
    if auth is None or auth.type != "basic":
        return False
    user_ok = hmac.compare_digest((auth.username or "").encode(), username.encode())
    password_ok = hmac.compare_digest((auth.password or "").encode(), password.encode())
    return user_ok and password_ok


def state_change_refusal(req: Request) -> ApiError | None:
    """Why this dashboard request may not run, or None.

    A route that accepts POST changes state (requeue, delete, empty, compact), read from
    rq-dashboard's own URL map so a new action is covered too: it runs only for a POST that the
    browser marks same-origin (`Sec-Fetch-Site`, or `Origin` where that header is missing).
    """
    rule = req.url_rule
    if rule is None or "POST" not in (rule.methods or ()):
        return None
    if req.method in SAFE_METHODS:
        return ApiError(
            "this dashboard action changes state: send it as a POST from the dashboard",
            status=405,
            title="Method not allowed",
        )
    if not same_origin(req):
        return Forbidden(
            "dashboard actions are accepted only from the dashboard's own pages",
            header="Origin",
        )
    return None


def same_origin(req: Request) -> bool:
    """True when the browser says the request comes from this site's own pages."""
    fetch_site = req.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = req.headers.get("Origin")
    # The host, not the scheme: behind Heroku's router the app sees http for an https page.
    return origin is not None and urlsplit(origin).netloc == req.host
