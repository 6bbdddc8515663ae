"""Receipts: what carriers report about one text (Twilio's status callbacks, Kannel's delivery
reports), received here. (Webhooks are what we send to customers; receipts come in.)

Each carrier with receipts gets one route, at the path its module names (`RECEIPTS`: under
/callbacks/, the URLs carriers were given), answering only while that carrier is SMS_PROVIDER
(a 404 otherwise). The carrier module reads the request (its signature, its words) into a
neutral `Receipt`; this module only hands it the request and records what it says. Receipts
carry no account token: they come from the carrier, not from API clients.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from campaign.errors import NotFound
from campaign.models import TextStatus
from campaign.providers import CARRIERS, carrier
from campaign.providers.incoming import IncomingRequest
from campaign.services.receipts import record_receipt

blp = Blueprint("receipts", __name__)
BLUEPRINTS = (blp,)


def carrier_request() -> IncomingRequest:
    """The request a carrier made, as carrier modules read it."""
    return IncomingRequest(
        full_path=request.full_path.rstrip("?"),
        query=request.args.to_dict(flat=True),
        form=request.form.to_dict(flat=True),
        headers=request.headers,
    )


def check_enabled(name: str, what: str) -> None:
    """A 404 unless `name` is the configured carrier. A check per request rather than a
    registration per provider: the provider is read from the app's config, the one place
    tests and operators set it."""
    if current_app.config.get("SMS_PROVIDER") != name:
        raise NotFound(f"{name} {what} are not enabled (SMS_PROVIDER is not {name})")


def _receive(name: str, text_id: str) -> Response:
    config = current_app.config
    check_enabled(name, "receipts")
    receipt = carrier(name).parse_receipt(carrier_request(), text_id, config)
    record_receipt(
        receipt.text_id,
        TextStatus(receipt.status),
        error_code=receipt.error_code,
        error_detail=receipt.error_detail,
    )
    return Response(status=carrier(name).RECEIPTS.answer_status)


def _register(name: str) -> None:
    route = carrier(name).RECEIPTS
    if route is None:
        return
    blp.add_url_rule(
        route.path.replace("{text_id}", "<string:text_id>"),
        f"{name}_receipt",
        lambda text_id: _receive(name, text_id),
        methods=[route.method],
    )


for _name in CARRIERS:
    _register(_name)
