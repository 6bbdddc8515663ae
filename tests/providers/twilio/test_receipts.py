"""providers/twilio/receipts.py: the StatusCallback URL, and a status callback read into a Receipt
once its signature (auth token, or SharedKey with the algorithm its settings header names) is
checked, or refused."""

from __future__ import annotations

from typing import Any

import pytest

from campaign.errors import ApiError, Forbidden, NotFound
from campaign.providers.incoming import IncomingRequest, Receipt
from campaign.providers.twilio.receipts import (
    RECEIPTS,
    TWILIO_STATUSES,
    parse_receipt,
    receipt_url,
)
from campaign.providers.twilio.signatures import (
    HMAC_SHA256,
    SIGNATURE_SETTINGS_HEADER,
    twilio_signature,
)

BASE = "https://sms.example"
CONFIG = {
    "PUBLIC_BASE_URL": BASE,
    "TWILIO_AUTH_TOKEN": "token",
    "TWILIO_WEBHOOKS_SHARED_KEY": "key",
}
PATH = "/callbacks/twilio/t1"


def test_twilio_statuses_map_onto_text_status_words() -> None:
    assert {TWILIO_STATUSES[s] for s in ("queued", "accepted", "sending", "sent")} == {"sent"}
    assert TWILIO_STATUSES["delivered"] == TWILIO_STATUSES["read"] == "delivered"
    assert TWILIO_STATUSES["undelivered"] == "undelivered"
    assert TWILIO_STATUSES["failed"] == TWILIO_STATUSES["canceled"] == "failed"
    assert "received" not in TWILIO_STATUSES


def test_the_status_callback_url_carries_the_text_id() -> None:
    assert RECEIPTS.method == "POST"
    assert receipt_url(CONFIG, "t1") == BASE + PATH
    assert receipt_url({**CONFIG, "PUBLIC_BASE_URL": ""}, "t1") is None


def posted(
    form: dict[str, str], *, secret: str = "token", settings: str | None = None, **headers: str
) -> IncomingRequest:
    """A callback as Twilio posts it: signed over the URL it requested and the form."""
    algorithm = HMAC_SHA256 if settings and "HMAC_SHA256" in settings else "HMAC_SHA1"
    signed = {"X-Twilio-Signature": twilio_signature(secret, BASE + PATH, form, algorithm)}
    if settings is not None:
        signed[SIGNATURE_SETTINGS_HEADER] = settings
    return IncomingRequest(full_path=PATH, query={}, form=form, headers={**signed, **headers})


@pytest.mark.parametrize(
    ("request_", "receipt"),
    [
        (posted({"MessageStatus": "delivered"}), Receipt("t1", "delivered")),
        (posted({"SmsStatus": "sent"}), Receipt("t1", "sent")),
        (
            posted({"MessageStatus": "undelivered", "ErrorCode": "30003"}),
            Receipt("t1", "undelivered", "30003", "Twilio reported error 30003"),
        ),
        (
            posted({"MessageStatus": "failed", "ErrorCode": "x" * 500}),
            Receipt("t1", "failed", "twilio-error", "Twilio reported error twilio-error"),
        ),
        (
            posted(
                {"MessageStatus": "read"},
                secret="key",
                settings="key=KS1,algorithm=HMAC_SHA256",
            ),
            Receipt("t1", "delivered"),
        ),
    ],
    ids=["delivered", "sms-status", "error-code", "unbounded-error-code", "shared-key-sha256"],
)
def test_a_signed_callback_is_read_into_a_receipt(
    request_: IncomingRequest, receipt: Receipt
) -> None:
    assert parse_receipt(request_, "t1", CONFIG) == receipt


def _forged() -> IncomingRequest:
    genuine = posted({"MessageStatus": "failed"})
    return IncomingRequest(PATH, {}, {"MessageStatus": "delivered"}, genuine.headers)


@pytest.mark.parametrize(
    ("request_", "config", "refusal", "source"),
    [
        (_forged(), CONFIG, Forbidden, {"header": "X-Twilio-Signature"}),
        (
            posted({"MessageStatus": "sent"}, secret="other"),
            CONFIG,
            Forbidden,
            {"header": "X-Twilio-Signature"},
        ),
        (
            posted({"MessageStatus": "sent"}, settings="key=KS1,algorithm=HMAC_SHA256"),
            CONFIG,
            Forbidden,
            {"header": "X-Twilio-Signature"},
        ),
        (
            posted({"MessageStatus": "sent"}, secret="key", settings="algorithm=HMAC_MD5"),
            CONFIG,
            Forbidden,
            {"header": "X-Twilio-Signature"},
        ),
        (
            posted({"MessageStatus": "sent"}, secret="key", settings="key=KS1"),
            {**CONFIG, "TWILIO_WEBHOOKS_SHARED_KEY": None},
            Forbidden,
            {"header": SIGNATURE_SETTINGS_HEADER},
        ),
        (posted({"MessageStatus": "sent"}), {**CONFIG, "TWILIO_AUTH_TOKEN": ""}, NotFound, {}),
        (posted({"MessageStatus": "receiving"}), CONFIG, ApiError, {"parameter": "MessageStatus"}),
        (posted({}), CONFIG, ApiError, {"parameter": "MessageStatus"}),
    ],
    ids=[
        "forged-status",
        "other-token",
        "auth-token-signature-claimed-as-shared-key",
        "unknown-algorithm",
        "shared-key-not-configured",
        "not-configured",
        "inbound-word",
        "no-status",
    ],
)
def test_a_callback_that_cannot_be_twilios_is_refused(
    request_: IncomingRequest,
    config: dict[str, Any],
    refusal: type[ApiError],
    source: dict[str, str],
) -> None:
    with pytest.raises(ApiError) as caught:
        parse_receipt(request_, "t1", config)
    assert type(caught.value) is refusal
    assert caught.value.source == source
