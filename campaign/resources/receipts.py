"""Receipts: what carriers report about one text (Twilio's status callbacks, Kannel's delivery
reports), received here. (Webhooks are what we send to customers; receipts come in.)

The routes stay under /callbacks/, the URLs carriers were given.

They come from the carriers, not from API clients, so they carry no account token: Twilio's are
checked against X-Twilio-Signature, Kannel's against the HMAC in the URL we gave it. Each
carrier's route answers only while that carrier is SMS_PROVIDER (a 404 otherwise).

What a Kannel report can prove: Kannel fills the report type into a dlr-url that is fixed when
the text is sent, so the URL's HMAC covers the text id and cannot cover the type. The URL is a
bearer capability for one text, seen by Kannel (its host, its access log of sendsms requests)
and by anything between Kannel and us; whoever holds it can assert any report Kannel could
send for that text. What the route trusts is bounded to that: the signed text id, a type that
we asked Kannel for (KANNEL_DLR_MASK; others are refused as not covered), and only a move
forward of a text in the carrier's hands (sending, sent or unknown: never one still queued or
already settled). Keep the URL out of logs: our own code never logs it.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request

from campaign.errors import ApiError, Forbidden, NotFound
from campaign.models import TextStatus
from campaign.receipt_urls import KANNEL_PATH, TWILIO_PATH, kannel_signature
from campaign.services.receipts import record_receipt

twilio_blp = Blueprint("twilio_receipts", __name__)
kannel_blp = Blueprint("kannel_receipts", __name__)
BLUEPRINTS = (twilio_blp, kannel_blp)


def _only_for(blueprint: Blueprint, provider: str) -> None:
    # A check per request rather than a registration per provider: the provider is read from
    # the app's config, the one place tests and operators set it.
    @blueprint.before_request
    def require_provider() -> None:
        if current_app.config.get("SMS_PROVIDER") != provider:
            raise NotFound(f"{provider} receipts are not enabled (SMS_PROVIDER is not {provider})")


_only_for(twilio_blp, "twilio")
_only_for(kannel_blp, "kannel")


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison of a signature from a request, which may be any text."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


@twilio_blp.post(TWILIO_PATH.replace("{text_id}", "<string:text_id>"))
def twilio_status(text_id: str) -> Response:
    """A Twilio receipt: its status callback (form-encoded MessageStatus, ErrorCode, ...)."""
    from campaign.providers import fields
    from campaign.providers.twilio import (
        SIGNATURE_SETTINGS_HEADER,
        TWILIO_STATUSES,
        signature_algorithm,
        valid_signature,
    )

    config = current_app.config
    token, base = config.get("TWILIO_AUTH_TOKEN"), config.get("PUBLIC_BASE_URL")
    if not token or not base:
        raise NotFound("Twilio receipts are not configured")
    url = base + request.full_path.rstrip("?")
    params = request.form.to_dict(flat=True)
    settings = request.headers.get(SIGNATURE_SETTINGS_HEADER)
    secret = token
    if settings is not None:
        # Signed with a SharedKey, not the auth token.
        secret = config.get("TWILIO_WEBHOOKS_SHARED_KEY")
        if not secret:
            raise Forbidden(
                "signed with a SharedKey, and TWILIO_WEBHOOKS_SHARED_KEY is not set",
                header=SIGNATURE_SETTINGS_HEADER,
            )
    algorithm = signature_algorithm(settings)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not valid_signature(secret, url, params, signature, algorithm):
        raise Forbidden(
            f"the X-Twilio-Signature does not match ({algorithm[:20]})", header="X-Twilio-Signature"
        )
    reported = params.get("MessageStatus") or params.get("SmsStatus") or ""
    status = TWILIO_STATUSES.get(reported)
    if status is None:
        raise ApiError(f"unknown MessageStatus {reported[:40]!r}", parameter="MessageStatus")
    reported_code = params.get("ErrorCode")
    error_code = fields.error_code(reported_code, "twilio-error") if reported_code else None
    record_receipt(
        text_id,
        TextStatus(status),
        error_code=error_code,
        error_detail=f"Twilio reported error {error_code}" if error_code else None,
    )
    return Response(status=204)


@kannel_blp.get(KANNEL_PATH.replace("{text_id}", "<string:text_id>"))
def kannel_report(text_id: str) -> Response:
    """A Kannel delivery report: `type` is the DLR type Kannel substituted for %d."""
    from campaign.providers.kannel import KANNEL_DLR_MASK, KANNEL_DLR_STATUSES

    expected = kannel_signature(current_app.config["SECRET_KEY"], text_id)
    if not _same(expected, request.args.get("sig", "")):
        raise Forbidden("the delivery report signature does not match", parameter="sig")
    raw_type = request.args.get("type", "")
    dlr_type = (
        int(raw_type)
        if raw_type.isascii() and len(raw_type) <= 2 and raw_type.isdecimal()
        else None
    )
    if dlr_type not in KANNEL_DLR_STATUSES:
        raise ApiError("type must be a Kannel DLR type (1, 2, 4, 8 or 16)", parameter="type")
    if not dlr_type & KANNEL_DLR_MASK:
        # We never ask Kannel for this report, so it cannot be Kannel's.
        raise Forbidden(
            f"this delivery report URL does not cover type {dlr_type}", parameter="type"
        )
    status = KANNEL_DLR_STATUSES[dlr_type]
    failed = status in (TextStatus.FAILED, TextStatus.UNDELIVERED)
    record_receipt(
        text_id,
        TextStatus(status),
        error_code=f"kannel-dlr-{dlr_type}" if failed else None,
        error_detail="Kannel reported the message undelivered" if failed else None,
    )
    return Response(status=204)
