"""Checking that a request Twilio posted to us (a status callback, an incoming message) is
Twilio's: every route Twilio calls goes through `check_signed` before anything is read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaign.errors import Forbidden, NotFound
from campaign.providers.incoming import IncomingRequest
from campaign.providers.twilio.signatures import (
    SIGNATURE_SETTINGS_HEADER,
    signature_algorithm,
    valid_signature,
)


def check_signed(request: IncomingRequest, config: Mapping[str, Any], what: str) -> None:
    """Raise unless Twilio signed `request`; `what` names the route in the 404.

    Twilio signs the URL it requested (PUBLIC_BASE_URL and the path, as we gave it) and the
    form; with `X-Twilio-Webhooks-Signature-Settings` it signed with the account's SharedKey
    and names the algorithm, else it signed HMAC-SHA1 with the auth token.
    """
    token, base = config.get("TWILIO_AUTH_TOKEN"), config.get("PUBLIC_BASE_URL")
    if not token or not base:
        raise NotFound(f"Twilio {what} are not configured")
    settings = request.headers.get(SIGNATURE_SETTINGS_HEADER)
    secret = token
    if settings is not None:
        secret = config.get("TWILIO_WEBHOOKS_SHARED_KEY")
        if not secret:
            raise Forbidden(
                "signed with a SharedKey, and TWILIO_WEBHOOKS_SHARED_KEY is not set",
                header=SIGNATURE_SETTINGS_HEADER,
            )
    algorithm = signature_algorithm(settings)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not valid_signature(secret, base + request.full_path, request.form, signature, algorithm):
        raise Forbidden(
            f"the X-Twilio-Signature does not match ({algorithm[:20]})", header="X-Twilio-Signature"
        )
