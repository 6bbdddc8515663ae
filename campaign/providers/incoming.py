"""What carriers send us, in words of our own: the request as a carrier module reads it, and the
neutral facts it parses out of it.

A carrier's receipt route (`resources/receipts.py`) turns Flask's request into an
`IncomingRequest`, hands it to that carrier's `parse_receipt`, and records the `Receipt` that
comes back; the carrier module checks the signature and maps its own words onto ours, and
raises an `ApiError` for anything it refuses. The carrier's incoming texts come the same way
(`resources/inbound.py`): its `parse_inbound` returns an `InboundText`, and its `INBOUND` route
says where it posts and what the carrier expects back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class IncomingRequest:
    """A carrier's HTTP request: the path and query as sent, and its decoded parameters."""

    full_path: str  # the path and query string exactly as requested ("/callbacks/...?sig=...")
    query: Mapping[str, str]
    form: Mapping[str, str]
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Receipt:
    """A carrier's report on one of our texts: the status it moves to, and why it failed."""

    text_id: str
    status: str  # a TextStatus value (providers sit below the models and do not import them)
    error_code: str | None = None
    error_detail: str | None = None


@dataclass(frozen=True)
class ReceiptRoute:
    """Where a carrier sends its receipts: a path holding `{text_id}`, the HTTP method, and the
    status that tells the carrier it was taken."""

    path: str
    method: str
    answer_status: int = 204

    def url(self, base: str, text_id: str) -> str:
        return base + self.path.format(text_id=text_id)


@dataclass(frozen=True)
class InboundText:
    """A text a recipient sent to one of our numbers, as the carrier reported it."""

    message_id: str  # the carrier's own id of the message: a retried delivery repeats it
    from_: str  # the sender, as the carrier wrote it (the service makes it E.164)
    to: str  # our number that received it
    body: str


@dataclass(frozen=True)
class InboundRoute:
    """Where a carrier delivers incoming texts, and the answer it expects (no reply in it: our
    auto-replies go out through the carrier's send API, like every text)."""

    path: str
    method: str
    answer: str = ""
    content_type: str = "text/plain"
