"""Inbound texts: what recipients send to our numbers, delivered by the configured carrier
(Twilio's "A message comes in" webhook, Kannel's sms-service get-url).

Each carrier with incoming texts gets one route, at the path its module names (`INBOUND`),
answering only while that carrier is SMS_PROVIDER. The carrier module checks the request's
signature and reads it into a neutral `InboundText`; `services/inbound.py` stores it and does
what its keyword asks. The answer is what the carrier expects (empty TwiML, an empty body),
also for a text to a number no account holds: it is logged and dropped, and a carrier that
was answered with an error would only deliver it again.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from campaign.providers import CARRIERS, carrier
from campaign.resources.receipts import carrier_request, check_enabled
from campaign.services.inbound import receive

blp = Blueprint("inbound", __name__)
BLUEPRINTS = (blp,)


def _receive(name: str) -> Response:
    check_enabled(name, "incoming texts")
    module = carrier(name)
    receive(module.parse_inbound(carrier_request(), current_app.config))
    route = module.INBOUND
    return Response(route.answer, status=200, content_type=route.content_type)


def _register(name: str) -> None:
    route = carrier(name).INBOUND
    if route is None:
        return
    blp.add_url_rule(route.path, f"{name}_inbound", lambda: _receive(name), methods=[route.method])


for _name in CARRIERS:
    _register(_name)
