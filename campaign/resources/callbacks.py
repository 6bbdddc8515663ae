"""Carrier callbacks: Twilio status callbacks and Kannel delivery reports, each for one text.

They come from the carriers, not from API clients, so they carry no account token: Twilio's are
checked against X-Twilio-Signature, Kannel's against the HMAC in the URL we gave it.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, current_app, request

from campaign.callback_links import KANNEL_PATH, TWILIO_PATH, kannel_signature
from campaign.errors import ApiError, Forbidden, NotFound
from campaign.models import TextStatus
from campaign.services.deliveries import record_carrier_report

blp = Blueprint("callbacks", __name__)


@blp.post(TWILIO_PATH.replace("{text_id}", "<string:text_id>"))
def twilio_status(text_id: str) -> Response:
    """A Twilio status callback (form-encoded MessageStatus, ErrorCode, ...)."""
    from campaign.providers.twilio import TWILIO_STATUSES, valid_signature

    config = current_app.config
    token, base = config.get("TWILIO_AUTH_TOKEN"), config.get("PUBLIC_BASE_URL")
    if not token or not base:
        raise NotFound("Twilio callbacks are not configured")
    url = base + request.full_path.rstrip("?")
    params = request.form.to_dict(flat=True)
    if not valid_signature(token, url, params, request.headers.get("X-Twilio-Signature", "")):
        raise Forbidden("the X-Twilio-Signature does not match", header="X-Twilio-Signature")
    reported = params.get("MessageStatus") or params.get("SmsStatus") or ""
    status = TWILIO_STATUSES.get(reported)
    if status is None:
        raise ApiError(f"unknown MessageStatus {reported!r}", parameter="MessageStatus")
    error_code = params.get("ErrorCode") or None
    record_carrier_report(
        text_id,
        TextStatus(status),
        error_code=error_code,
        error_detail=f"Twilio reported error {error_code}" if error_code else None,
    )
    return Response(status=204)


@blp.get(KANNEL_PATH.replace("{text_id}", "<string:text_id>"))
def kannel_report(text_id: str) -> Response:
    """A Kannel delivery report: `type` is the DLR type Kannel substituted for %d."""
    from campaign.providers.kannel import KANNEL_DLR_STATUSES

    expected = kannel_signature(current_app.config["SECRET_KEY"], text_id)
    if not hmac.compare_digest(expected, request.args.get("sig", "")):
        raise Forbidden("the delivery report signature does not match", parameter="sig")
    try:
        status = KANNEL_DLR_STATUSES[int(request.args.get("type", ""))]
    except (KeyError, ValueError):
        raise ApiError(
            "type must be a Kannel DLR type (1, 2, 4, 8 or 16)", parameter="type"
        ) from None
    failed = status in (TextStatus.FAILED, TextStatus.UNDELIVERED)
    record_carrier_report(
        text_id,
        TextStatus(status),
        error_code=f"kannel-dlr-{request.args['type']}" if failed else None,
        error_detail="Kannel reported the message undelivered" if failed else None,
    )
    return Response(status=204)
