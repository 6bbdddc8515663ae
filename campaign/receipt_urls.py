"""Where carriers send their receipts for a text (its fate), each URL carrying our text id.

Twilio signs its receipts (X-Twilio-Signature); Kannel does not, so its delivery-report URL
carries an HMAC of the text id made with SECRET_KEY, which only this service can produce.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

TWILIO_PATH = "/callbacks/twilio/{text_id}"
KANNEL_PATH = "/callbacks/kannel/{text_id}"


def kannel_signature(secret_key: str, text_id: str) -> str:
    return hmac.new(secret_key.encode(), f"kannel:{text_id}".encode(), hashlib.sha256).hexdigest()[
        :32
    ]


def receipt_url(config: Mapping[str, Any], text_id: str) -> str | None:
    """Where the configured provider should report on `text_id`; None when nothing calls back."""
    base = config.get("PUBLIC_BASE_URL")
    if not base:
        return None
    provider = config["SMS_PROVIDER"]
    if provider == "twilio":
        return base + TWILIO_PATH.format(text_id=text_id)
    if provider == "kannel":
        signature = kannel_signature(config["SECRET_KEY"], text_id)
        return base + KANNEL_PATH.format(text_id=text_id) + f"?sig={signature}"
    return None
