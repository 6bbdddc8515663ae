"""TwilioProvider against a loopback server speaking Twilio's Messages API."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

from campaign.providers.base import OutboundMessage, ProviderError, Timed
from campaign.providers.twilio.sending import TwilioProvider, parse_retry_after
from campaign.providers.twilio.signatures import valid_signature
from tests.sinks.twilio import TwilioSink

FROM = "+15195550100"


def message(
    to: str = "+15197566220",
    body: str = "Hello Alexander",
    callback: str | None = None,
    text_id: str = "text-1",
) -> OutboundMessage:
    return OutboundMessage(text_id=text_id, to=to, from_=FROM, body=body, receipt_url=callback)


def make_provider(
    sink: TwilioSink | None = None,
    *,
    api_base: str | None = None,
    auth_token: str | None = None,
    read_timeout: float = 5.0,
    max_connections: int = 64,
) -> TwilioProvider:
    return TwilioProvider(
        account_sid=sink.account_sid if sink else "AC" + "0" * 32,
        auth_token=auth_token or (sink.auth_token if sink else "token"),
        api_base=api_base or (sink.url if sink else "http://127.0.0.1:9"),
        connect_timeout=2.0,
        read_timeout=read_timeout,
        max_connections=max_connections,
    )


@pytest.fixture
def sink() -> Iterator[TwilioSink]:
    with TwilioSink() as running:
        yield running


@pytest.fixture
def provider(sink: TwilioSink) -> Iterator[TwilioProvider]:
    client = make_provider(sink)
    yield client
    client.close()


def send_error(provider: TwilioProvider, outbound: OutboundMessage) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        provider.send(outbound)
    return caught.value


# --- sending -------------------------------------------------------------------------------


def test_send_posts_the_message_and_returns_twilios_sid(
    sink: TwilioSink, provider: TwilioProvider
) -> None:
    callback = "http://127.0.0.1:5000/callbacks/twilio/texts/abc"
    result = provider.send(message(body="Hello Alexander, ünïcode ✓", callback=callback))

    [received] = sink.messages
    assert (received.to, received.from_, received.body, received.status_callback) == (
        "+15197566220",
        FROM,
        "Hello Alexander, ünïcode ✓",
        callback,
    )
    assert result.provider_message_id == received.sid
    assert received.sid.startswith("SM") and len(received.sid) == 34
    assert result.status == "sent"


def test_send_without_callback_url_omits_status_callback(
    sink: TwilioSink, provider: TwilioProvider
) -> None:
    provider.send(message())
    assert sink.messages[0].status_callback is None


def test_wrong_credentials_are_a_final_error(sink: TwilioSink) -> None:
    client = make_provider(sink, auth_token="not-the-token")
    try:
        error = send_error(client, message())
    finally:
        client.close()
    assert (error.code, error.retryable, error.ambiguous) == ("20003", False, False)
    assert sink.messages == []


def test_server_error_is_retryable_and_nothing_was_accepted(
    sink: TwilioSink, provider: TwilioProvider
) -> None:
    sink.fail_next(1, status=500)
    error = send_error(provider, message())
    assert (error.code, error.retryable, error.ambiguous) == ("20500", True, False)
    assert sink.messages == []
    # The next attempt goes through: the fault was for one request only.
    assert provider.send(message()).provider_message_id == sink.messages[0].sid


def test_service_unavailable_is_retryable(sink: TwilioSink, provider: TwilioProvider) -> None:
    sink.fail_next(1, status=503)
    error = send_error(provider, message())
    assert error.retryable and not error.ambiguous


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_are_ambiguous_because_twilio_may_have_accepted(
    sink: TwilioSink, provider: TwilioProvider, status: int
) -> None:
    sink.fail_next(1, status=status)
    error = send_error(provider, message())
    assert (error.retryable, error.ambiguous) == (False, True)


def test_rate_limit_is_retryable_after_the_retry_after_seconds(
    sink: TwilioSink, provider: TwilioProvider
) -> None:
    sink.rate_limit_next(1, retry_after="2")
    error = send_error(provider, message())
    assert (error.code, error.retryable, error.retry_after) == ("20429", True, 2.0)
    assert sink.messages == []


def test_rate_limit_with_an_http_date_retry_after_is_honoured(
    sink: TwilioSink, provider: TwilioProvider
) -> None:
    sink.rate_limit_next(1, retry_after=formatdate(timeval=None, usegmt=True))
    error = send_error(provider, message())
    # A date of "now" means no wait (never a negative one).
    assert error.retryable and error.retry_after is not None and 0.0 <= error.retry_after <= 1.0


def test_retry_after_parsing_falls_back_to_one_second() -> None:
    assert parse_retry_after(None) == 1.0
    assert parse_retry_after("soon") == 1.0
    assert parse_retry_after("nan") == 1.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_answer_slower_than_read_timeout_is_ambiguous_not_retryable(sink: TwilioSink) -> None:
    client = make_provider(sink, read_timeout=0.5)
    sink.hang_next(1, seconds=2.0)
    try:
        error = send_error(client, message())
    finally:
        client.close()
    assert (error.retryable, error.ambiguous) == (False, True)


def test_connection_dropped_after_the_request_is_ambiguous(
    sink: TwilioSink, provider: TwilioProvider
) -> None:
    sink.drop_connection_next(1)
    error = send_error(provider, message())
    assert (error.retryable, error.ambiguous) == (False, True)
    # The sink took it before hanging up: a resend would have been a duplicate.
    assert len(sink.messages) == 1


def test_nothing_listening_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = make_provider(api_base=f"http://127.0.0.1:{closed_port}")
    try:
        error = send_error(client, message())
    finally:
        client.close()
    assert (error.code, error.retryable, error.ambiguous) == ("connect", True, False)


def test_opted_out_recipient_is_final_with_twilio_code(
    sink: TwilioSink, provider: TwilioProvider
) -> None:
    sink.reject("+19734390088", code=21610, message="Attempt to send to unsubscribed recipient")
    error = send_error(provider, message(to="+19734390088"))
    assert (error.code, error.detail) == ("21610", "Attempt to send to unsubscribed recipient")
    assert (error.retryable, error.ambiguous) == (False, False)
    # Other recipients are unaffected.
    provider.send(message(to="+15197566220"))
    assert [m.to for m in sink.messages] == ["+15197566220"]


def test_invalid_to_number_is_final_with_code_21211(provider: TwilioProvider) -> None:
    error = send_error(provider, message(to="not-a-number"))
    assert (error.code, error.retryable, error.ambiguous) == ("21211", False, False)
    assert "not-a-number" in error.detail


def test_empty_body_is_final_with_code_21602(sink: TwilioSink, provider: TwilioProvider) -> None:
    error = send_error(provider, message(body=""))
    assert (error.code, error.retryable, error.ambiguous) == ("21602", False, False)
    assert sink.messages == []


def test_send_after_close_is_refused(sink: TwilioSink) -> None:
    client = make_provider(sink)
    client.send(message())
    client.close()
    with pytest.raises(RuntimeError):
        client.send(message())
    assert len(sink.messages) == 1


def test_error_without_twilio_json_falls_back_to_the_http_status() -> None:
    server = HTTPServer(("127.0.0.1", 0), _PlainTextTeapot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = make_provider(api_base=f"http://127.0.0.1:{server.server_address[1]}")
    try:
        error = send_error(client, message())
    finally:
        client.close()
        server.shutdown()
        server.server_close()
    assert (error.code, error.retryable, error.ambiguous) == ("418", False, False)
    assert "418" in error.detail


class _PlainTextTeapot(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(418)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"nope\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_round_sent_concurrently_arrives_exactly_once_each(sink: TwilioSink) -> None:
    client = make_provider(sink, max_connections=16)
    bodies = [f"text {i}" for i in range(200)]
    try:
        results = client.send_many([Timed(0.0, message(body=body)) for body in bodies])
    finally:
        client.close()
    received = sink.messages
    assert sorted(m.body for m in received) == sorted(bodies)
    # Each result is the sid Twilio gave that very message.
    sid_of = {m.body: m.sid for m in received}
    assert [r.provider_message_id for r in results] == [sid_of[body] for body in bodies]  # type: ignore[union-attr]
    assert len(set(sid_of.values())) == 200


# --- status callbacks ----------------------------------------------------------------------


def test_deliver_posts_signed_status_callbacks(sink: TwilioSink, provider: TwilioProvider) -> None:
    seen: list[tuple[str, dict[str, str], str | None]] = []

    class Callbacks(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
            url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
            seen.append((url, dict(parse_qsl(raw)), self.headers.get("X-Twilio-Signature")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Callbacks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        provider.send(message(callback=f"{base}/callbacks/texts/1"))
        provider.send(message(to="+19734390088"))  # no callback: nothing to deliver
        statuses = sink.deliver("undelivered", error_code=30003)
    finally:
        server.shutdown()
        server.server_close()

    assert statuses == [204]
    [(url, params, signature)] = seen
    assert url == f"{base}/callbacks/texts/1"
    assert params["MessageSid"] == sink.messages[0].sid
    assert (params["MessageStatus"], params["SmsStatus"], params["ErrorCode"]) == (
        "undelivered",
        "undelivered",
        "30003",
    )
    assert (params["AccountSid"], params["To"], params["ApiVersion"]) == (
        sink.account_sid,
        "+15197566220",
        "2010-04-01",
    )
    assert valid_signature(sink.auth_token, url, params, signature)
