"""campaign: a bulk outbound SMS engine with a JSON:API in the Omnigage style.

`create_app` builds the Flask app: configuration from the environment, extensions, the API
blueprints, one set of JSON:API error handlers, and the `campaign` command line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from campaign import transaction
from campaign.config import (
    check_production,
    check_provider,
    check_timing,
    current_environ,
    load_config,
    redis_url,
)
from campaign.documents import rebase_to_request
from campaign.errors import ApiError, ApiErrors
from campaign.extensions import db, migrate, redis_store
from campaign.jsonapi import check_acceptable, error_response

MIGRATIONS_DIRECTORY = str(Path(__file__).resolve().parent.parent / "migrations")
log = logging.getLogger(__name__)
# Where /api/docs finds Swagger UI's files.
SWAGGER_UI_ASSETS = "/api/docs/assets"


class CampaignFlask(Flask):
    """Flask with the request boundary: a request is one transaction, committed here.

    The view builds its answer from the flushed, uncommitted rows; the commit comes after it,
    inside Flask's error handling, so a commit that fails is answered as an error like any
    other and the built answer is dropped. Hooks the services asked for run after the commit.
    A POST or PATCH with an `Idempotency-Key` claims its key first and stores its answer in
    the same commit (campaign/idempotency.py).
    """

    def dispatch_request(self) -> Any:
        from campaign import idempotency
        from campaign.resources.base import API_PREFIX

        claimed = idempotency.claim(request) if request.path.startswith(API_PREFIX) else None
        if isinstance(claimed, Response):
            return claimed  # the stored answer of the key's first request
        try:
            answer = self.make_response(super().dispatch_request())
            if claimed is not None and answer.status_code < 400:
                idempotency.store(claimed, answer)
            transaction.commit()
        except BaseException:
            transaction.rollback()
            if claimed is not None:
                idempotency.release(claimed)
            raise
        if claimed is not None and answer.status_code >= 400:
            idempotency.release(claimed)
        return answer


def create_app(overrides: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment, with `overrides` laid over it (tests, CLI)."""
    config = load_config(current_environ(overrides))
    check_production(config)
    check_timing(config)
    app = CampaignFlask(
        __name__, instance_path=config["INSTANCE_PATH"] or None, instance_relative_config=False
    )
    app.config.update(config)
    app.config.update(_derived_config(app))
    db.init_app(app)
    # Registered after the database's own teardown, so it runs before the session is removed.
    app.teardown_appcontext(_end_unfinished_unit)
    migrate.init_app(app, db, directory=MIGRATIONS_DIRECTORY, compare_type=True)
    redis_store.init_app(app)
    _register_api(Api(app))
    from campaign.resources import inbound, receipts

    for carrier_blueprint in receipts.BLUEPRINTS + inbound.BLUEPRINTS:
        app.register_blueprint(carrier_blueprint)
    _register_swagger_ui_assets(app)
    _register_dashboard(app)
    _register_error_handlers(app)
    app.before_request(_guard_api)
    from campaign.limits.requests import add_headers

    app.after_request(add_headers)
    from campaign.cli import register_commands

    register_commands(app)
    return app


def create_web_app() -> Flask:
    """The app as the web process serves it (`wsgi.py`, `campaign run`): refused at start when
    the carrier's settings are incomplete, since receipts from it could not be checked."""
    app = create_app()
    check_provider(app.config)
    return app


def _derived_config(app: Flask) -> dict[str, object]:
    """Settings computed from others: embedded defaults, body limits, the OpenAPI page."""
    derived: dict[str, object] = {}
    if not app.config["SECRET_KEY"]:
        derived["SECRET_KEY"] = _instance_secret(app.instance_path)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        os.makedirs(app.instance_path, exist_ok=True)
        derived["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{app.instance_path}/campaign.db"
    if not app.config["REDIS_URL"]:
        from campaign.embedded_redis import ensure_embedded_redis

        derived["REDIS_URL"] = ensure_embedded_redis(app.instance_path)
    else:
        derived["REDIS_URL"] = redis_url(app.config["REDIS_URL"], app.config["REDIS_TLS_VERIFY"])
    # Room for a full bulk upload with large meta objects, and not much more.
    derived["MAX_CONTENT_LENGTH"] = app.config["MAX_BULK"] * (app.config["MAX_META_BYTES"] + 512)
    derived.update(
        API_TITLE="campaign",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        # Served from the swagger-ui-bundle package, so /api/docs works offline.
        OPENAPI_SWAGGER_UI_URL=f"{SWAGGER_UI_ASSETS}/",
    )
    return derived


def _instance_secret(instance_path: str) -> str:
    """A development secret kept in the instance folder, so the web process and the workers
    agree on it (it signs Kannel delivery-report URLs) across restarts."""
    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, "secret_key")
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path) as existing:
            return existing.read().strip()
    secret = os.urandom(32).hex()
    with os.fdopen(descriptor, "w") as new:
        new.write(secret)
    return secret


def _end_unfinished_unit(error: BaseException | None) -> None:
    """A unit of work that neither committed nor rolled back (a CLI command or a job that
    raised) is rolled back, so its undo hooks run and its after-commit hooks never do."""
    if transaction.pending():
        transaction.rollback()


def _register_swagger_ui_assets(app: Flask) -> None:
    """Swagger UI's scripts and styles, from the package, for the page at /api/docs."""
    from flask import Blueprint
    from swagger_ui_bundle import swagger_ui_path

    assets = Blueprint(
        "swagger_ui_assets",
        __name__,
        static_folder=str(swagger_ui_path),
        static_url_path=SWAGGER_UI_ASSETS,
    )
    app.register_blueprint(assets)


def _register_dashboard(app: Flask) -> None:
    from campaign.dashboard import register_dashboard

    register_dashboard(app)


def _register_api(api: Api) -> None:
    from campaign.openapi import document_api
    from campaign.resources import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    document_api(api)


def _guard_api() -> None:
    """Every API request negotiates its media type and authenticates first."""
    from campaign.resources.base import API_PREFIX

    if not request.path.startswith(API_PREFIX):
        return
    from campaign.auth import authenticate

    check_acceptable(request)
    authenticate(request)
    from campaign.limits.requests import limit_request

    limit_request()


def _register_error_handlers(app: Flask) -> None:
    # Registered after flask-smorest's own, so these win: one error shape everywhere.
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        transaction.rollback()
        rebase_to_request([error])
        return error_response([error], error.status)

    @app.errorhandler(ApiErrors)
    def api_errors(error: ApiErrors) -> Response:
        transaction.rollback()
        rebase_to_request(error.errors)
        return error_response(error.errors, error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        transaction.rollback()
        status = error.code or 500
        detail = error.description or error.name
        response = error_response([ApiError(detail, status=status, title=error.name)], status)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        transaction.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        detail = "the server failed to handle this request; the failure has been logged"
        return error_response([ApiError(detail, status=500, title="Internal server error")], 500)
