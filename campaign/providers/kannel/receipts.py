"""Kannel's delivery reports: the URL we give Kannel for each text, and reading what it fetches.

Kannel does not sign what it fetches, so the delivery-report URL carries an HMAC of the text id
made with SECRET_KEY, which only this service can produce. Kannel fills the report type into
that URL (`type=%d`) when it reports, so the HMAC covers the text id and cannot cover the type.
The URL is a bearer capability for one text, seen by Kannel (its host, its access log of sendsms
requests) and by anything between Kannel and us; whoever holds it can assert any report Kannel
could send for that text. What is trusted is bounded to that: the signed text id, a type that we
asked Kannel for (KANNEL_DLR_MASK; others are refused as not covered), and only a move forward
of a text in the carrier's hands (`services/receipts.py`). Keep the URL out of logs: our own
code never logs it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from campaign.errors import ApiError, Forbidden
from campaign.providers.incoming import IncomingRequest, Receipt, ReceiptRoute

# smsbox counts only 200 and 202 as a fetch that worked; with http-request-retry set (as for
# incoming texts) a 204 would have it fetch every report again.
RECEIPTS = ReceiptRoute("/callbacks/kannel/{text_id}", "GET", answer_status=200)

KANNEL_DLR_STATUSES: dict[int, str] = {
    1: "delivered",
    2: "undelivered",
    4: "sent",
    8: "sent",
    16: "failed",
}
"""Kannel delivery-report types (the `dlr-mask` bits, substituted for `%d` in the dlr-url) mapped
to our text statuses, per Kannel's user guide:

- 1 `DLR_SUCCESS`, delivered to the phone: `delivered`.
- 2 `DLR_FAIL`, not delivered to the phone (expired, or refused by the network): `undelivered`.
- 4 `DLR_BUFFERED`, queued on the SMSC, an intermediate report: `sent`.
- 8 `DLR_SMSC_SUCCESS`, the SMSC accepted the submit: `sent`.
- 16 `DLR_SMSC_FAIL`, the SMSC rejected the submit, so it never left: `failed`.

A report carries exactly one type; any other value is not a Kannel DLR and should be ignored.
Kannel's fake SMSC (tests) reports 8 when it hands a message to fakesmsc and 1 right after it.
"""

KANNEL_DLR_MASK = 1 | 2 | 8 | 16
"""The reports we ask Kannel for: every one that can change a text. 4 (buffered) is left out:
it says no more than `sent`, so a report of it is refused as one Kannel never sends."""

_FAILED = frozenset({"failed", "undelivered"})


def kannel_signature(secret_key: str, text_id: str) -> str:
    """The delivery-report URL's `sig`: 32 hex digits of HMAC-SHA256("kannel:" + text id)."""
    digest = hmac.new(secret_key.encode(), f"kannel:{text_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def receipt_url(config: Mapping[str, Any], text_id: str) -> str | None:
    """The delivery-report URL for `text_id`, signed: Kannel does not sign what it fetches."""
    base = config.get("PUBLIC_BASE_URL")
    if not base:
        return None
    signature = kannel_signature(config["SECRET_KEY"], text_id)
    return RECEIPTS.url(base, text_id) + f"?sig={signature}"


def kannel_dlr_url(receipt_url: str) -> str:
    """The dlr-url Kannel should fetch: our receipt URL plus `type=%d`.

    Kannel expands `%` escape codes anywhere in the URL (`%C` is the charset, `%D` the meta
    data...), so a percent-encoded byte in our own URL such as `%C3` would be rewritten; `%%` is
    Kannel's escape for a literal `%`, so every `%` of ours is doubled before `%d` is added.
    """
    separator = "&" if "?" in receipt_url else "?"
    return receipt_url.replace("%", "%%") + separator + "type=%d"


def _same(expected: str, given: str) -> bool:
    """Constant-time comparison of a signature from a request, which may be any text."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def parse_receipt(request: IncomingRequest, text_id: str, config: Mapping[str, Any]) -> Receipt:
    """The report Kannel fetched for `text_id`, once its signature and type are checked."""
    expected = kannel_signature(config["SECRET_KEY"], text_id)
    if not _same(expected, request.query.get("sig", "")):
        raise Forbidden("the delivery report signature does not match", parameter="sig")
    raw_type = request.query.get("type", "")
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
    if status not in _FAILED:
        return Receipt(text_id, status)
    return Receipt(
        text_id,
        status,
        error_code=f"kannel-dlr-{dlr_type}",
        error_detail="Kannel reported the message undelivered",
    )
