"""A carrier, or whoever speaks as one, that answers huge bodies, over-long fields and forged
receipts: memory, stored texts and receipt routes stay bounded and change only as a carrier may."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, update

from campaign import create_app
from campaign.config import ConfigError
from campaign.extensions import db
from campaign.http_client import MAX_ANSWER
from campaign.models import Text, TextStatus, utcnow
from campaign.models.text_outcomes import INVALID_ERROR_CODE, Outcome, record_outcomes
from campaign.providers import fields, receipt_url
from campaign.providers.base import OutboundMessage, ProviderError
from campaign.providers.kannel.sending import KannelProvider
from campaign.providers.twilio.sending import TwilioProvider
from campaign.providers.twilio.signatures import twilio_signature
from tests.assertions import assert_error, unchanged
from tests.client import ApiClient, Reply, jsonapi_validator
from tests.factories import (
    build_seed_campaign,
    make_phone_number,
    schedule,
    scheduled_seed_campaign,
)
from tests.jobs import drain, run_dispatch_only
from tests.servers import configured, serve
from tests.sinks.twilio import TwilioSink

HUGE = 48 * 1024 * 1024
MESSAGE = OutboundMessage("text-1", "+15197566220", "+15195550100", "Hello")


def _reply(response: httpx.Response) -> Reply:
    """An httpx answer as the tests' Reply, after checking it is a valid JSON:API document."""
    assert response.headers["Content-Type"] == "application/vnd.api+json"
    document = json.loads(response.content)
    assert not list(jsonapi_validator().iter_errors(document)), document
    return Reply(response.status_code, response.headers, document)


# --- 7: answers past MAX_ANSWER are no answer, and are not read ------------------------------


@pytest.mark.parametrize("framing", ["length", "chunked", "eof"])
def test_a_48_mib_answer_is_no_answer_and_is_never_held_in_memory(
    framing: Literal["length", "chunked", "eof"],
) -> None:
    with TwilioSink() as sink:
        sink.huge_answer_next(size=HUGE, framing=framing)
        provider = TwilioProvider(
            account_sid=sink.account_sid,
            auth_token=sink.auth_token,
            api_base=sink.url,
            connect_timeout=2.0,
            read_timeout=30.0,
        )
        tracemalloc.start()
        try:
            with pytest.raises(ProviderError) as raised:
                provider.send(MESSAGE)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            provider.close()
        # The carrier may have the message (it answered 201): never resend it.
        assert (raised.value.code, raised.value.ambiguous, raised.value.retryable) == (
            "no-answer",
            True,
            False,
        )
        assert "larger than" in raised.value.detail
        assert len(sink.messages) == 1
    # Loose on purpose: a few buffers of MAX_ANSWER, against 48 MiB read whole.
    assert peak < 16 * MAX_ANSWER


# --- 8: carrier fields are bounded where they are stored -------------------------------------


def test_carrier_field_bounds_are_the_text_columns() -> None:
    columns = Text.__table__.c
    assert columns.provider_message_id.type.length == fields.MAX_MESSAGE_ID
    assert columns.error_code.type.length == fields.MAX_ERROR_CODE
    assert len(INVALID_ERROR_CODE) <= fields.MAX_ERROR_CODE


def _sending_texts(app: Flask, api: ApiClient, numbers: list[str]) -> list[str]:
    """Texts of a dispatched engagement, one per number, claimed as a send round claims them."""
    with app.app_context():
        phone_id = make_phone_number(account_id=api.credentials.account_id, throughput=100)
    seed = build_seed_campaign(
        api, phone_id, envelopes=tuple((number, {"first-name": "A"}) for number in numbers)
    )
    assert schedule(api, seed.engagement_id).status == 202
    run_dispatch_only(app)
    with app.app_context():
        texts = db.session.scalars(select(Text).order_by(Text.to)).all()
        for text in texts:
            text.status, text.claimed_at = TextStatus.SENDING.value, utcnow()
        ids = [text.id for text in texts]
        db.session.commit()
    return ids


def test_over_long_carrier_fields_in_one_outcome_leave_the_rounds_other_outcomes_stored(
    app: Flask, api: ApiClient
) -> None:
    valid, long_sid, long_code = _sending_texts(
        app, api, ["+15197566220", "+15197566221", "+15197566222"]
    )
    with app.app_context():
        record_outcomes(
            [
                Outcome(valid, TextStatus.SENT, "Hi", 1, "SM1"),
                Outcome(long_sid, TextStatus.SENT, "Hi", 1, "SM" + "x" * 80),
                Outcome(
                    long_code,
                    TextStatus.FAILED,
                    "Hi",
                    1,
                    error_code="E" * 40,
                    error_detail="d" * 256 * 1024,
                ),
            ],
            utcnow(),
        )
        db.session.commit()
        stored = {
            text.id: (text.status, text.provider_message_id, text.error_code, text.error_detail)
            for text in db.session.scalars(select(Text))
        }
    assert stored[valid] == ("sent", "SM1", None, None)
    assert stored[long_sid] == ("sent", None, None, None)
    status, message_id, code, detail = stored[long_code]
    assert (status, message_id, code) == ("failed", None, INVALID_ERROR_CODE)
    assert len(detail) == fields.MAX_ERROR_DETAIL and detail.endswith(fields.TRUNCATED)


# --- 9: carrier URLs are checked at start-up; no error detail holds a request target ---------


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("KANNEL_SENDSMS_URL", "http://127.0.0.1:13013/cgi-bin/send sms"),
        ("KANNEL_SENDSMS_URL", "http://127.0.0.1:13013/cgi-bin/sendsms\r\nX: y"),
        ("KANNEL_SENDSMS_URL", "http://user:pw@127.0.0.1:13013/cgi-bin/sendsms"),
        ("KANNEL_SENDSMS_URL", "ftp://127.0.0.1/cgi-bin/sendsms"),
        ("KANNEL_SENDSMS_URL", "http:///cgi-bin/sendsms"),
        ("TWILIO_API_BASE", "https://api.twilio.com:99999"),
        ("TWILIO_API_BASE", "https://api.twilio.com/?x=1"),
        ("PUBLIC_BASE_URL", "https://example.com/#top"),
        ("PUBLIC_BASE_URL", "https://exämple.com"),
    ],
)
def test_a_bad_carrier_url_stops_the_app_from_starting(
    app_environment: dict[str, str], name: str, url: str
) -> None:
    with pytest.raises(ConfigError, match=name) as raised:
        create_app({**app_environment, name: url})
    assert "pw" not in str(raised.value)


def test_a_request_that_cannot_be_written_leaves_no_password_in_the_error_detail() -> None:
    password = "s3cret-pw"
    provider = KannelProvider(
        sendsms_url="http://127.0.0.1:9/cgi-bin/send sms",
        username="campaign",
        password=password,
        connect_timeout=1.0,
        read_timeout=1.0,
    )
    try:
        with pytest.raises(ProviderError) as raised:
            provider.send(MESSAGE)
    finally:
        provider.close()
    assert raised.value.code == "kannel-config"
    for secret in (password, "password=", "send sms", "username="):
        assert secret not in raised.value.detail


# --- 10, 11: receipts are for the configured carrier, signed, and move only texts it holds ---


@pytest.fixture
def public_url(app: Flask) -> Iterator[str]:
    with serve(app) as base_url, configured(app, PUBLIC_BASE_URL=base_url):
        yield base_url


def _sent_texts(app: Flask, api: ApiClient) -> list[str]:
    """The ids of the seed campaign's texts, sent through the console carrier."""
    scheduled_seed_campaign(app, api)
    drain(app)
    with app.app_context():
        texts = db.session.scalars(select(Text).order_by(Text.to)).all()
    assert {text.status for text in texts} == {"sent"}
    return [text.id for text in texts]


def _status(app: Flask, text_id: str) -> tuple[str, str | None]:
    with app.app_context():
        text = db.session.get(Text, text_id)
        assert text is not None
        return text.status, text.error_code


def _kannel_url(app: Flask, text_id: str, **query: str) -> str:
    with configured(app, SMS_PROVIDER="kannel"):
        url = receipt_url(app.config, text_id)
    assert url is not None
    return url + "".join(f"&{name}={value}" for name, value in query.items())


def test_a_validly_signed_kannel_report_of_a_type_we_never_ask_for_is_refused(
    app: Flask, api: ApiClient, public_url: str
) -> None:
    text_id = _sent_texts(app, api)[0]
    with configured(app, SMS_PROVIDER="kannel"), unchanged(app):
        refused = httpx.get(_kannel_url(app, text_id, type="4"))
    assert_error(_reply(refused), 403, parameter="type", detail="does not cover type 4")


def test_a_kannel_signature_for_one_text_is_refused_for_another(
    app: Flask, api: ApiClient, public_url: str
) -> None:
    first, second = _sent_texts(app, api)
    forged = _kannel_url(app, first, type="1").replace(first, second)
    with configured(app, SMS_PROVIDER="kannel"), unchanged(app):
        refused = httpx.get(forged)
    assert_error(_reply(refused), 403, parameter="sig")


def test_a_kannel_report_cannot_settle_a_text_the_carrier_never_took(
    app: Flask, api: ApiClient, public_url: str
) -> None:
    [text_id] = _sending_texts(app, api, ["+15197566220"])
    with app.app_context():
        text = db.session.get(Text, text_id)
        assert text is not None
        text.status, text.claimed_at = TextStatus.QUEUED.value, None
        db.session.commit()
    with configured(app, SMS_PROVIDER="kannel"), unchanged(app):
        ignored = httpx.get(_kannel_url(app, text_id, type="1"))
    assert ignored.status_code == 200  # smsbox fetches again on anything but 200 and 202
    assert _status(app, text_id) == ("queued", None)


def test_a_non_ascii_kannel_signature_is_refused(
    app: Flask, api: ApiClient, public_url: str
) -> None:
    text_id = _sent_texts(app, api)[0]
    url = f"{public_url}/callbacks/kannel/{text_id}?type=1&sig=%C3%A9t%C3%A9"
    with configured(app, SMS_PROVIDER="kannel"), unchanged(app):
        refused = httpx.get(url)
    assert_error(_reply(refused), 403, parameter="sig")


def _twilio_post(
    app: Flask, text_id: str, params: dict[str, str], signature: bytes | None = None
) -> httpx.Response:
    url = f"{app.config['PUBLIC_BASE_URL']}/callbacks/twilio/{text_id}"
    token = app.config["TWILIO_AUTH_TOKEN"]
    signed = twilio_signature(token, url, params).encode() if signature is None else signature
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signed})


TWILIO = {"SMS_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "0" * 32}


def test_a_non_ascii_twilio_signature_is_refused(
    app: Flask, api: ApiClient, public_url: str
) -> None:
    text_id = _sent_texts(app, api)[0]
    params = {"MessageStatus": "delivered"}
    with configured(app, **TWILIO, TWILIO_AUTH_TOKEN="token"), unchanged(app):
        # The server reads header bytes as latin-1: a str with characters outside ASCII.
        refused = _twilio_post(app, text_id, params, signature="\u00e9t\u00e9".encode())
    assert_error(_reply(refused), 403, header="X-Twilio-Signature")


def test_a_twilio_receipt_with_an_over_long_error_code_is_stored_with_our_code(
    app: Flask, api: ApiClient, public_url: str
) -> None:
    text_id = _sent_texts(app, api)[0]
    params = {"MessageStatus": "undelivered", "ErrorCode": "3" * 40}
    with configured(app, **TWILIO, TWILIO_AUTH_TOKEN="token"):
        answered = _twilio_post(app, text_id, params)
    assert answered.status_code == 204
    assert _status(app, text_id) == ("undelivered", "twilio-error")


@pytest.mark.parametrize(
    ("provider", "carrier"), [("twilio", "kannel"), ("kannel", "twilio"), ("console", "twilio")]
)
def test_a_receipt_for_a_carrier_that_is_not_configured_is_not_found(
    app: Flask, api: ApiClient, public_url: str, provider: str, carrier: str
) -> None:
    text_id = _sent_texts(app, api)[0]
    kannel = _kannel_url(app, text_id, type="1")
    settings: dict[str, Any] = {"SMS_PROVIDER": provider, "TWILIO_AUTH_TOKEN": "token"}
    with configured(app, **settings), unchanged(app):
        if carrier == "kannel":
            refused = httpx.get(kannel)
        else:
            refused = _twilio_post(app, text_id, {"MessageStatus": "delivered"})
    assert_error(_reply(refused), 404, detail=f"{carrier} receipts are not enabled")


def test_the_migration_caps_error_details_stored_before_the_bound(
    app: Flask, api: ApiClient
) -> None:
    text_id = _sent_texts(app, api)[0]
    with app.app_context():
        db.session.execute(
            update(Text).where(Text.id == text_id).values(error_detail="d" * 256 * 1024)
        )
        db.session.commit()
        downgrade(revision="0002")
        upgrade()
        detail = db.session.get(Text, text_id).error_detail
    assert len(detail) == fields.MAX_ERROR_DETAIL and detail.endswith(fields.TRUNCATED)


# --- receipts signed with a SharedKey (X-Twilio-Webhooks-Signature-Settings) --------------------

SHARED_KEY = "webhooks-shared-key-secret"


def _shared_key_post(
    app: Flask, text_id: str, params: dict[str, str], *, key: str, algorithm: str
) -> httpx.Response:
    url = f"{app.config['PUBLIC_BASE_URL']}/callbacks/twilio/{text_id}"
    settings = f"key=webhooks_sharedkey_1,algorithm={algorithm}"
    return httpx.post(
        url,
        data=params,
        headers={
            "X-Twilio-Signature": twilio_signature(key, url, params, algorithm),
            "X-Twilio-Webhooks-Signature-Settings": settings,
        },
    )


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1"])
def test_a_receipt_signed_with_the_shared_key_is_taken(
    app: Flask, api: ApiClient, public_url: str, algorithm: str
) -> None:
    text_id = _sent_texts(app, api)[0]
    settings = {**TWILIO, "TWILIO_AUTH_TOKEN": "token", "TWILIO_WEBHOOKS_SHARED_KEY": SHARED_KEY}
    with configured(app, **settings):
        taken = _shared_key_post(
            app, text_id, {"MessageStatus": "delivered"}, key=SHARED_KEY, algorithm=algorithm
        )
    assert taken.status_code == 204
    assert _status(app, text_id) == ("delivered", None)


@pytest.mark.parametrize(
    ("configured_key", "signed_with", "detail"),
    [
        (None, SHARED_KEY, "TWILIO_WEBHOOKS_SHARED_KEY is not set"),
        (SHARED_KEY, "token", "does not match (HMAC_SHA256)"),  # the auth token is not the key
        (SHARED_KEY, "another-key", "does not match (HMAC_SHA256)"),
    ],
    ids=["no-key-configured", "signed-with-the-auth-token", "signed-with-another-key"],
)
def test_a_shared_key_receipt_not_signed_with_our_key_is_refused(
    app: Flask,
    api: ApiClient,
    public_url: str,
    configured_key: str | None,
    signed_with: str,
    detail: str,
) -> None:
    text_id = _sent_texts(app, api)[0]
    settings = {
        **TWILIO,
        "TWILIO_AUTH_TOKEN": "token",
        "TWILIO_WEBHOOKS_SHARED_KEY": configured_key,
    }
    with configured(app, **settings), unchanged(app):
        refused = _shared_key_post(
            app, text_id, {"MessageStatus": "delivered"}, key=signed_with, algorithm="HMAC_SHA256"
        )
    assert_error(_reply(refused), 403, detail=detail)
