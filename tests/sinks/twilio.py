"""A loopback HTTP server that speaks Twilio's Messages API, with fault injection.

It records every message it accepts and can send Twilio-signed status callbacks for them.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx

from campaign.providers.twilio.sending import API_VERSION
from campaign.providers.twilio.signatures import twilio_signature

MAX_HANG_SECONDS = 60.0  # a hang ends at this, or when the sink stops, whichever is first
MAX_BODY_CHARS = 1600  # Twilio's limit on a concatenated message body (error 21617)
MAX_HUGE_ANSWER = 256 * 1024 * 1024  # the largest answer `huge_answer_next` streams
_HUGE_PIECE = b" " * (64 * 1024)

_MESSAGES_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<sid>[^/]+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_GSM_EXTENSION = frozenset("\f^{}\\[~]|")

# Twilio's error words for the answers the sink gives (https://www.twilio.com/docs/errors/<code>).
_HTTP_ERROR_CODES = {
    429: (20429, "Too Many Requests"),
    500: (20500, "An internal server error has occurred"),
    503: (20503, "Service unavailable"),
}


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the sink accepted (answered, or would have answered, 201)."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    received: float  # time.monotonic() when the request was accepted
    validity_period: str | None = None


@dataclass(frozen=True)
class _Fault:
    kind: Literal["fail", "rate_limit", "hang", "drop", "huge"]
    status: int = 500
    retry_after: str = "1"
    seconds: float = 0.0
    accept: bool = True
    size: int = 0
    framing: Literal["length", "chunked", "eof"] = "length"


class TwilioSink:
    """POST /2010-04-01/Accounts/{sid}/Messages.json on 127.0.0.1, served until `stop()`.

    Faults queue up in call order and each applies to one authenticated Messages request.
    """

    def __init__(self, *, account_sid: str | None = None, auth_token: str | None = None) -> None:
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []
        self._faults: deque[_Fault] = deque()
        self._rejections: dict[str, tuple[int, str]] = {}
        self._answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self._attempts = 0
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> TwilioSink:
        """Bind an ephemeral loopback port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("TwilioSink already started")
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="twilio-sink",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end hangs, and close every connection still open."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            # Wakes handler threads blocked reading an idle keep-alive connection.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> TwilioSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # what tests read ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The API base, e.g. http://127.0.0.1:PORT (what TWILIO_API_BASE is set to)."""
        if self._server is None:
            raise RuntimeError("TwilioSink is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of the accepted messages, in arrival order."""
        with self._lock:
            return list(self._messages)

    @property
    def attempts(self) -> int:
        """Authenticated Messages requests received, including those answered with a fault."""
        with self._lock:
            return self._attempts

    # fault injection ----------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """Answer the next `n` requests with `status` (a Twilio error body); nothing accepted."""
        self._queue(n, _Fault("fail", status=status))

    def rate_limit_next(self, n: int = 1, retry_after: str = "1") -> None:
        """Answer the next `n` requests 429 with this Retry-After header; nothing accepted."""
        self._queue(n, _Fault("rate_limit", status=429, retry_after=retry_after))

    def hang_next(self, n: int = 1, seconds: float = 2.0) -> None:
        """Accept the next `n` requests but answer only after `seconds` (capped; ends on stop)."""
        self._queue(n, _Fault("hang", seconds=min(seconds, MAX_HANG_SECONDS)))

    def drop_connection_next(self, n: int = 1, *, accept: bool = True) -> None:
        """Read the next `n` requests, then close the socket without answering.

        With `accept` (the default) the message is recorded first: the worst case for a client,
        since resending it would make a duplicate.
        """
        self._queue(n, _Fault("drop", accept=accept))

    def huge_answer_next(
        self,
        n: int = 1,
        size: int = 48 * 1024 * 1024,
        framing: Literal["length", "chunked", "eof"] = "length",
    ) -> None:
        """Accept the next `n` messages and answer 201 with a `size`-byte body (spaces, then the
        Message resource), framed by Content-Length, chunked, or the end of the connection. The
        body is streamed, so the sink never holds it; it stops when the client hangs up."""
        self._queue(n, _Fault("huge", size=min(size, MAX_HUGE_ANSWER), framing=framing))

    def answer_to(self, number: str, payload: dict[str, Any], status: int = 201) -> None:
        """Answer every message to `number` with `status` and `payload`: laid over the Message
        resource for a 2xx (the message is recorded), the whole body otherwise."""
        with self._lock:
            self._answers[number] = (status, payload)

    def reject(
        self,
        number: str,
        code: int = 21610,
        message: str = "Attempt to send to unsubscribed recipient",
    ) -> None:
        """Answer 400 with this Twilio error for every message to `number`."""
        with self._lock:
            self._rejections[number] = (code, message)

    def _queue(self, n: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend([fault] * n)

    # status callbacks ---------------------------------------------------------------------
    def deliver(
        self,
        status: str = "delivered",
        error_code: str | int | None = None,
        *,
        messages: Iterable[ReceivedMessage] | None = None,
        timeout: float = 10.0,
    ) -> list[int]:
        """POST a signed Twilio status callback for each message that asked for one.

        Returns the HTTP statuses in order. `messages` narrows it to some recorded messages.
        """
        chosen = self.messages if messages is None else list(messages)
        statuses: list[int] = []
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            for message in chosen:
                if not message.status_callback:
                    continue
                params = self.callback_params(message, status, error_code)
                signature = twilio_signature(self.auth_token, message.status_callback, params)
                response = client.post(
                    message.status_callback,
                    data=params,
                    headers={"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1"},
                )
                statuses.append(response.status_code)
        return statuses

    def callback_params(
        self, message: ReceivedMessage, status: str, error_code: str | int | None = None
    ) -> dict[str, str]:
        """The form fields Twilio posts to a message's StatusCallback."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message.from_,
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return params

    # incoming messages -------------------------------------------------------------------
    def incoming(
        self,
        url: str,
        from_: str,
        to: str,
        body: str,
        *,
        sid: str | None = None,
        signature: str | None = None,
        timeout: float = 10.0,
    ) -> httpx.Response:
        """POST a message a handset sent to `to` as Twilio's "A message comes in" webhook does:
        form-encoded, signed with the auth token over `url` (`signature` overrides it)."""
        params = self.incoming_params(from_, to, body, sid=sid)
        signed = (
            signature if signature is not None else twilio_signature(self.auth_token, url, params)
        )
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            return client.post(
                url,
                data=params,
                headers={"X-Twilio-Signature": signed, "User-Agent": "TwilioProxy/1.1"},
            )

    def incoming_params(
        self, from_: str, to: str, body: str, *, sid: str | None = None
    ) -> dict[str, str]:
        """The form fields of Twilio's incoming-message webhook."""
        sid = sid or "SM" + secrets.token_hex(16)
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": body,
            "From": from_,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(_segments(body)),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
        }

    # request handling (called from handler threads) ---------------------------------------
    def _take_fault(self) -> _Fault | None:
        with self._lock:
            self._attempts += 1
            return self._faults.popleft() if self._faults else None

    def _rejection(self, number: str) -> tuple[int, str] | None:
        with self._lock:
            return self._rejections.get(number)

    def _answer(self, number: str) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            return self._answers.get(number)

    def _record(self, form: dict[str, str]) -> ReceivedMessage:
        message = ReceivedMessage(
            sid="SM" + secrets.token_hex(16),
            to=form["To"],
            from_=form["From"],
            body=form["Body"],
            status_callback=form.get("StatusCallback") or None,
            received=time.monotonic(),
            validity_period=form.get("ValidityPeriod"),
        )
        with self._lock:
            self._messages.append(message)
        return message

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 overflows when a pool opens dozens of connections at
    # once; the kernel then drops handshakes and requests stall for seconds.
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], sink: TwilioSink
    ) -> None:
        self.sink = sink
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and left is part of the test, not an error worth a traceback.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Twilio, so the provider's pool is exercised
    server_version = "TwilioSink/1"
    timeout = 60  # an idle keep-alive connection is dropped after this
    # Buffer each response and send it in one write: headers and body as two small writes meet
    # Nagle's algorithm and the client's delayed ACK, adding ~40 ms to every request.
    wbufsize = 64 * 1024
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.sink._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sink._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet on purpose: benchmarks push thousands of requests through here.
        pass

    def do_GET(self) -> None:
        self._read_body()
        self._error(405, 20004, "Method not allowed")

    def do_POST(self) -> None:
        sink = self.server.sink
        raw = self._read_body()
        match = _MESSAGES_PATH.match(urlsplit(self.path).path)
        if match is None:
            self._error(404, 20404, f"The requested resource {self.path} was not found")
            return
        if not self._authenticated(sink):
            self._error(
                401, 20003, "Authenticate", headers={"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
            return
        if match["sid"] != sink.account_sid:
            self._error(404, 20404, f"The requested resource {self.path} was not found")
            return

        fault = sink._take_fault()
        if fault is not None and fault.kind == "fail":
            code, text = _HTTP_ERROR_CODES.get(fault.status, (20000 + fault.status, "Error"))
            self._error(fault.status, code, text)
            return
        if fault is not None and fault.kind == "rate_limit":
            code, text = _HTTP_ERROR_CODES[429]
            self._error(429, code, text, headers={"Retry-After": fault.retry_after})
            return
        if fault is not None and fault.kind == "hang":
            sink._stopping.wait(fault.seconds)

        form = {
            key: values[0]
            for key, values in parse_qs(
                raw.decode("utf-8", "replace"), keep_blank_values=True
            ).items()
        }
        problem = _validate(form) or sink._rejection(form.get("To", ""))
        if fault is not None and fault.kind == "drop":
            if problem is None and fault.accept:
                sink._record(form)
            self._drop()
            return
        if problem is not None:
            code, text = problem
            self._error(400, code, text)
            return
        if fault is not None and fault.kind == "huge":
            self._huge(fault, _resource(sink.account_sid, sink._record(form)))
            return
        answer = sink._answer(form["To"])
        if answer is not None:
            status, payload = answer
            if 200 <= status < 300:
                payload = {**_resource(sink.account_sid, sink._record(form)), **payload}
            self._json(status, payload)
            return
        message = sink._record(form)
        self._json(201, _resource(sink.account_sid, message))

    # helpers -------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _authenticated(self, sink: TwilioSink) -> bool:
        scheme, _, encoded = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            credentials = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            return False
        return secrets.compare_digest(credentials, f"{sink.account_sid}:{sink.auth_token}".encode())

    def _error(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._json(
            status,
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            headers,
        )

    def _json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            # The client gave up (e.g. its read timeout fired during a hang).
            self.close_connection = True

    def _huge(self, fault: _Fault, resource: dict[str, Any]) -> None:
        tail = json.dumps(resource).encode()
        pieces, rest = divmod(max(fault.size - len(tail), 0), len(_HUGE_PIECE))
        chunked = fault.framing == "chunked"
        try:
            self.send_response(201)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            if fault.framing == "length":
                self.send_header(
                    "Content-Length", str(pieces * len(_HUGE_PIECE) + rest + len(tail))
                )
            elif chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            for piece in [_HUGE_PIECE] * pieces + [_HUGE_PIECE[:rest], tail]:
                if self.server.sink._stopping.is_set():
                    break
                if not piece:  # an empty chunk would end a chunked body
                    continue
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            # The client read as much as it wanted and hung up: the point of the fault.
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _validate(form: dict[str, str]) -> tuple[int, str] | None:
    """Twilio's 400 for a message it will not create, or None."""
    to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
    if not to:
        return 21604, "A 'To' phone number is required."
    if not from_:
        return 21603, "A 'From' phone number is required."
    if not body:
        return 21602, "Message body is required."
    if not _E164.match(to):
        return 21211, f"The 'To' number {to} is not a valid phone number."
    if len(body) > MAX_BODY_CHARS:
        return 21617, "The concatenated message body exceeds the 1600 character limit."
    return None


def _resource(account_sid: str, message: ReceivedMessage) -> dict[str, Any]:
    """The Message resource Twilio answers with on create."""
    now = formatdate(usegmt=True)
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message.sid}"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": message.from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(_segments(message.body)),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": "queued",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": message.to,
        "uri": f"{uri}.json",
    }


def _segments(body: str) -> int:
    # Rough on purpose (ASCII as GSM-7, anything else as UCS-2): it only fills num_segments.
    if body.isascii():
        units, single, part = sum(2 if ch in _GSM_EXTENSION else 1 for ch in body), 160, 153
    else:
        units, single, part = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // part)
