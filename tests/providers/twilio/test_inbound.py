"""providers/twilio/inbound.py: Twilio's incoming-message webhook read into an InboundText once
its signature is checked (as the status callbacks' is), or refused; numbers made E.164, bodies
bounded and kept in any alphabet."""

from __future__ import annotations

import pytest

from campaign.errors import ApiError, Forbidden, NotFound
from campaign.providers.incoming import InboundText, IncomingRequest
from campaign.providers.twilio.inbound import INBOUND, parse_inbound
from campaign.providers.twilio.signatures import twilio_signature

BASE = "https://sms.example"
CONFIG = {"PUBLIC_BASE_URL": BASE, "TWILIO_AUTH_TOKEN": "token", "DEFAULT_REGION": "US"}
SID = "SM" + "a" * 32
FORM = {"MessageSid": SID, "From": "+15197566220", "To": "+15195550100", "Body": "STOP"}


def posted(form: dict[str, str], *, secret: str = "token", signature: str | None = None):
    """An incoming message as Twilio posts it: signed over the URL it requested and the form."""
    signed = twilio_signature(secret, BASE + INBOUND.path, form)
    headers = {"X-Twilio-Signature": signed if signature is None else signature}
    return IncomingRequest(full_path=INBOUND.path, query={}, form=form, headers=headers)


def test_twilio_posts_to_the_inbound_path_and_gets_empty_twiml_back() -> None:
    assert (INBOUND.path, INBOUND.method, INBOUND.content_type) == (
        "/inbound/twilio",
        "POST",
        "text/xml",
    )
    assert INBOUND.answer.endswith("<Response/>")


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        (FORM, InboundText(SID, "+15197566220", "+15195550100", "STOP")),
        # Twilio's older name for the id; numbers in other forms become E.164.
        (
            {"SmsMessageSid": SID, "From": "(519) 756-6220", "To": "15195550100", "Body": ""},
            InboundText(SID, "+15197566220", "+15195550100", ""),
        ),
        # Any alphabet, kept exactly; Twilio's 1,600-character limit is accepted.
        ({**FORM, "Body": "Стоп 🚫"}, InboundText(SID, FORM["From"], FORM["To"], "Стоп 🚫")),
        ({**FORM, "Body": "é" * 1600}, InboundText(SID, FORM["From"], FORM["To"], "é" * 1600)),
        # Control characters other than tab and line breaks (a NUL cannot be stored) are spaces.
        ({**FORM, "Body": "a\x00b\tc\r\nd"},
         InboundText(SID, FORM["From"], FORM["To"], "a b\tc\r\nd")),
        # A To that is not a number is kept as given, for the service to log and drop.
        ({**FORM, "To": "ALPHA"}, InboundText(SID, FORM["From"], "ALPHA", "STOP")),
    ],
)  # fmt: skip
def test_a_signed_incoming_message_is_read(form: dict[str, str], expected: InboundText) -> None:
    assert parse_inbound(posted(form), CONFIG) == expected


@pytest.mark.parametrize(
    ("request_", "error", "source"),
    [
        (posted(FORM, secret="not-the-token"), Forbidden, ("header", "X-Twilio-Signature")),
        (posted(FORM, signature=""), Forbidden, ("header", "X-Twilio-Signature")),
        (posted({**FORM, "MessageSid": ""}), ApiError, ("parameter", "MessageSid")),
        (posted({**FORM, "MessageSid": "x" * 65}), ApiError, ("parameter", "MessageSid")),
        (posted({**FORM, "MessageSid": "SM id"}), ApiError, ("parameter", "MessageSid")),
        (posted({**FORM, "From": "12"}), ApiError, ("parameter", "From")),
        (posted({k: v for k, v in FORM.items() if k != "From"}), ApiError, ("parameter", "From")),
        (posted({**FORM, "Body": "x" * 1601}), ApiError, ("parameter", "Body")),
    ],
)
def test_a_forged_or_malformed_incoming_message_is_refused(
    request_: IncomingRequest, error: type[ApiError], source: tuple[str, str]
) -> None:
    with pytest.raises(error) as refused:
        parse_inbound(request_, CONFIG)
    assert refused.value.status == (403 if error is Forbidden else 400)
    assert refused.value.source == {source[0]: source[1]}


@pytest.mark.parametrize("missing", ["PUBLIC_BASE_URL", "TWILIO_AUTH_TOKEN"])
def test_without_twilio_settings_the_route_is_not_there(missing: str) -> None:
    with pytest.raises(NotFound):
        parse_inbound(posted(FORM), {**CONFIG, missing: ""})
