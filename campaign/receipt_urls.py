"""The paths carriers send their receipts to (the routes in resources/receipts.py, the URLs each
carrier module builds), each carrying our text id.

Twilio signs its receipts (X-Twilio-Signature); Kannel does not, so its delivery-report URL
carries an HMAC of the text id made with SECRET_KEY, which only this service can produce.
"""

from __future__ import annotations

import hashlib
import hmac

TWILIO_PATH = "/callbacks/twilio/{text_id}"
KANNEL_PATH = "/callbacks/kannel/{text_id}"


def kannel_signature(secret_key: str, text_id: str) -> str:
    return hmac.new(secret_key.encode(), f"kannel:{text_id}".encode(), hashlib.sha256).hexdigest()[
        :32
    ]
