"""KannelProvider against the real Kannel gateway (bearerbox + smsbox + fakesmsc on loopback),
plus loopback sinks for the failures Kannel cannot be made to produce on demand.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from campaign.providers.base import OutboundMessage, ProviderError, SendResult, Timed
from campaign.providers.kannel.receipts import KANNEL_DLR_STATUSES
from campaign.providers.kannel.sending import KannelProvider
from tests.kannel_gateway import KannelGateway, ReceivedSms, require_kannel

SENDER = "+15550001111"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KannelGateway]:
    require_kannel()
    with KannelGateway(tmp_path_factory.mktemp("kannel")) as running:
        yield running


@pytest.fixture
def provider(gateway: KannelGateway) -> Iterator[KannelProvider]:
    kannel = make_provider(gateway.sendsms_url, password=gateway.password)
    yield kannel
    kannel.close()


def make_provider(
    sendsms_url: str, *, password: str = "kannel-secret", read_timeout: float = 3.0
) -> KannelProvider:
    return KannelProvider(
        sendsms_url=sendsms_url,
        username="campaign",
        password=password,
        connect_timeout=2.0,
        read_timeout=read_timeout,
    )


def message(
    to: str, body: str, *, callback: str | None = None, from_: str = SENDER
) -> OutboundMessage:
    return OutboundMessage(text_id="txt-1", to=to, from_=from_, body=body, receipt_url=callback)


def send_and_receive(
    gateway: KannelGateway, provider: KannelProvider, outbound: OutboundMessage
) -> tuple[SendResult, ReceivedSms]:
    """Send one message and return what fakesmsc received for it."""
    before = len(gateway.received)
    result = provider.send(outbound)
    new = gateway.wait_for(before + 1, timeout=5.0)[before:]
    assert len(new) == 1, new
    return result, new[0]


class DlrReceiver:
    """A loopback HTTP server standing in for our DLR endpoint; records each request path."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with receiver._condition:
                    receiver.paths.append(self.path)
                    receiver._condition.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep pytest output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self.paths) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.paths)} of {count} DLR calls: {self.paths}")
                self._condition.wait(remaining)
            return list(self.paths)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def dlr_receiver() -> Iterator[DlrReceiver]:
    receiver = DlrReceiver()
    yield receiver
    receiver.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- sends through the real gateway ---------------------------------------------------------------


def test_send_reaches_the_smsc_with_sender_receiver_and_text(
    gateway: KannelGateway, provider: KannelProvider
) -> None:
    body = "Hello Alexander, text templates support variables."
    result, received = send_and_receive(gateway, provider, message("+15197566220", body))

    assert result == SendResult(provider_message_id=None, status="sent")
    assert (received.sender, received.receiver, received.text) == (SENDER, "+15197566220", body)
    assert received.kind == "text"


def test_non_gsm_body_is_sent_as_ucs2_and_arrives_intact(
    gateway: KannelGateway, provider: KannelProvider
) -> None:
    result, received = send_and_receive(gateway, provider, message("+19734390088", "Zoë 👋"))

    assert result.status == "sent"
    assert received.kind == "ucs-2"
    assert (received.receiver, received.text) == ("+19734390088", "Zoë 👋")


def test_gsm_body_with_extension_characters_and_newline_arrives_as_7bit_text(
    gateway: KannelGateway, provider: KannelProvider
) -> None:
    body = "Price: €5 [promo] {x}\nReply STOP to opt out"
    before = len(gateway.received)
    provider.send(message("+15550002222", body))
    # fakesmsc prints a 7-bit text raw: its second line may come a moment after the first.
    [received] = gateway.wait_for(before + 1, until=lambda received: "\n" in received[-1].text)[
        before:
    ]

    assert received.kind == "text"
    assert received.text == body


def test_long_body_arrives_whole(gateway: KannelGateway, provider: KannelProvider) -> None:
    body = "Long campaign text. " * 40  # 800 characters: six GSM-7 segments
    _, received = send_and_receive(gateway, provider, message("+15550003333", body))

    assert received.text == body


def test_a_round_sent_concurrently_arrives_once_each(
    gateway: KannelGateway, provider: KannelProvider
) -> None:
    receivers = [f"+1555100{index:04d}" for index in range(60)]
    before = len(gateway.received)
    results = provider.send_many([Timed(0.0, message(to, f"Hi {to}")) for to in receivers])

    assert [getattr(result, "status", result) for result in results] == ["sent"] * len(receivers)
    arrived = gateway.wait_for(before + len(receivers))[before:]
    assert sorted((sms.receiver, sms.text) for sms in arrived) == [
        (to, f"Hi {to}") for to in receivers
    ]


def test_delivery_reports_reach_the_callback_url_with_our_query_and_the_type(
    gateway: KannelGateway, provider: KannelProvider, dlr_receiver: DlrReceiver
) -> None:
    # The percent-encoded bytes check that Kannel's own %-escapes do not rewrite our query.
    query = "text=abc&sig=x%2By%C3%A9"
    callback = f"{dlr_receiver.base_url}/kannel/dlr?{query}"
    send_and_receive(gateway, provider, message("+15550004444", "Report back", callback=callback))

    # Kannel's fake SMSC reports 8 (accepted by the SMSC) and 1 (delivered to the phone).
    paths = dlr_receiver.wait_for(2)
    assert sorted(paths) == [f"/kannel/dlr?{query}&type=1", f"/kannel/dlr?{query}&type=8"]
    assert {KANNEL_DLR_STATUSES[int(path[-1])] for path in paths} == {"sent", "delivered"}


def test_delivery_report_url_without_query_gets_type_as_its_query(
    gateway: KannelGateway, provider: KannelProvider, dlr_receiver: DlrReceiver
) -> None:
    callback = f"{dlr_receiver.base_url}/kannel/dlr/txt-42"
    send_and_receive(gateway, provider, message("+15550005555", "Plain", callback=callback))

    assert sorted(dlr_receiver.wait_for(2)) == [
        "/kannel/dlr/txt-42?type=1",
        "/kannel/dlr/txt-42?type=8",
    ]


def test_wrong_password_is_a_final_error_and_nothing_is_sent(gateway: KannelGateway) -> None:
    wrong = make_provider(gateway.sendsms_url, password="not-the-password")
    right = make_provider(gateway.sendsms_url, password=gateway.password)
    before = len(gateway.received)
    try:
        with pytest.raises(ProviderError) as caught:
            wrong.send(message("+15550006666", "Should not go out"))
        # A later good send is the next thing the SMSC sees: the refused one never reached it.
        right.send(message("+15550007777", "Goes out"))
    finally:
        wrong.close()
        right.close()

    error = caught.value
    assert (error.code, error.detail) == ("kannel-403", "Authorization failed for sendsms")
    assert not error.retryable and not error.ambiguous
    assert [sms.receiver for sms in gateway.wait_for(before + 1)[before:]] == ["+15550007777"]


def test_missing_sender_is_a_final_error_with_kannels_reason(
    gateway: KannelGateway, provider: KannelProvider
) -> None:
    with pytest.raises(ProviderError) as caught:
        provider.send(message("+15550008888", "No sender", from_=""))

    assert caught.value.code == "kannel-400"
    assert "Sender missing" in caught.value.detail
    assert not caught.value.retryable and not caught.value.ambiguous


# -- failures before and after the request --------------------------------------------------------


def test_nothing_listening_is_retryable() -> None:
    kannel = make_provider(f"http://127.0.0.1:{free_port()}/cgi-bin/sendsms")
    try:
        with pytest.raises(ProviderError) as caught:
            kannel.send(message("+15550009999", "Nobody home"))
    finally:
        kannel.close()

    assert caught.value.code == "kannel-unreachable"
    assert caught.value.retryable and not caught.value.ambiguous


def test_gateway_that_never_answers_is_ambiguous() -> None:
    # A listening socket nobody accepts on: the kernel completes the connection and buffers the
    # request, and no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        kannel = make_provider(f"http://127.0.0.1:{port}/cgi-bin/sendsms", read_timeout=0.3)
        try:
            with pytest.raises(ProviderError) as caught:
                kannel.send(message("+15550009999", "Into the void"))
        finally:
            kannel.close()

    assert caught.value.code == "kannel-no-answer"
    assert caught.value.ambiguous and not caught.value.retryable


def test_connection_dropped_after_the_request_is_ambiguous() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)

        def read_then_hang_up() -> None:
            client, _ = server.accept()
            with client:
                client.recv(65536)

        thread = threading.Thread(target=read_then_hang_up, daemon=True)
        thread.start()
        kannel = make_provider(f"http://127.0.0.1:{server.getsockname()[1]}/cgi-bin/sendsms")
        try:
            with pytest.raises(ProviderError) as caught:
                kannel.send(message("+15550009999", "Dropped"))
        finally:
            kannel.close()
            thread.join(timeout=5.0)

    assert caught.value.ambiguous and not caught.value.retryable


class _Answer(BaseHTTPRequestHandler):
    """Answers every sendsms like an overloaded Kannel does."""

    def do_GET(self) -> None:
        body = b"4: Temporal failure, try again later."
        self.send_response(503)
        self.send_header("Retry-After", "3")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_503_is_retryable_and_honours_retry_after() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kannel = make_provider(f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/sendsms")
    try:
        with pytest.raises(ProviderError) as caught:
            kannel.send(message("+15550009999", "Busy"))
    finally:
        kannel.close()
        server.shutdown()
        server.server_close()

    error = caught.value
    assert (error.code, error.detail) == ("kannel-503", "4: Temporal failure, try again later.")
    assert error.retryable and not error.ambiguous
    assert error.retry_after == 3.0


def test_dlr_mask_outside_kannels_bits_is_rejected() -> None:
    with pytest.raises(ValueError, match="dlr_mask"):
        KannelProvider(
            sendsms_url="http://127.0.0.1:1/cgi-bin/sendsms",
            username="u",
            password="p",
            connect_timeout=1.0,
            read_timeout=1.0,
            dlr_mask=64,
        )


@pytest.mark.parametrize(
    ("valid_for", "validity"), [(None, None), (30, "1"), (60, "1"), (119, "1"), (36_000, "600")]
)
def test_a_validity_period_goes_to_kannel_in_whole_minutes(
    valid_for: int | None, validity: str | None
) -> None:
    provider = make_provider("http://127.0.0.1:1/cgi-bin/sendsms")
    try:
        outbound = OutboundMessage("txt-1", "+15197566220", SENDER, "Hi", valid_for=valid_for)
        assert provider._params(outbound).get("validity") == validity
    finally:
        provider.close()


def test_a_message_with_a_validity_period_reaches_the_smsc(
    gateway: KannelGateway, provider: KannelProvider
) -> None:
    outbound = OutboundMessage("txt-1", "+15197566220", SENDER, "Hello", valid_for=600)
    result, received = send_and_receive(gateway, provider, outbound)
    assert (result.status, received.text) == ("sent", "Hello")
