"""A customer's web service on 127.0.0.1, for web calls: it reads each HTTP/1.1 request as
sent (raw headers kept), answers it with `route(seen)` (status, body, headers, a delay), keeps
connections alive, and counts connections and the most open at once."""

from __future__ import annotations

import contextlib
import http
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

# The longest any handler sleeps; the server's close wakes it sooner.
LONGEST_DELAY = 10.0
# Requests one connection may carry before the server closes it (every loop here is bounded).
REQUESTS_PER_CONNECTION = 1000

# The shape of api.weather.gov/gridpoints/MFL/109,62/forecast (the SmartFlows seed's sample).
FORECAST = {
    "type": "Feature",
    "properties": {
        "units": "us",
        "periods": [
            {
                "number": 1,
                "name": "Today",
                "temperature": 84,
                "temperatureUnit": "F",
                "windSpeed": "14 mph",
                "detailedForecast": "A chance of showers after 4pm. Mostly sunny.",
            },
            {"number": 2, "name": "Tonight", "temperature": 75, "windSpeed": "9 mph"},
        ],
    },
}


@dataclass(frozen=True)
class Seen:
    """A request as the server read it."""

    connection: int
    method: str
    target: str
    headers: dict[str, str]  # names lower-cased
    raw_headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def json_answer(value: object, status: int = 200) -> Answer:
    return Answer(status, json.dumps(value).encode(), {"Content-Type": "application/json"})


class Server:
    """Listens on 127.0.0.1 and serves each connection in a thread, keep-alive, answering every
    request with `route(seen)`; counts connections, and the most that were open at once."""

    def __init__(self, route: Callable[[Seen], Answer]) -> None:
        self.route = route
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.allow = f"127.0.0.1:{self.port}"
        self.seen: list[Seen] = []
        self.connections = self.open = self.most_open = 0
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                index, self.connections = self.connections, self.connections + 1
                self.open += 1
                self.most_open = max(self.most_open, self.open)
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock, index), daemon=True).start()

    def _serve(self, sock: socket.socket, index: int) -> None:
        buffer = [b""]
        try:
            for _ in range(REQUESTS_PER_CONNECTION):
                seen = self._read(sock, index, buffer)
                if seen is None:
                    return
                with self._lock:
                    self.seen.append(seen)
                answer = self.route(seen)
                if answer.delay and self.closing.wait(answer.delay):
                    return
                phrase = http.HTTPStatus(answer.status).phrase
                head = (
                    f"HTTP/1.1 {answer.status} {phrase}\r\nContent-Length: {len(answer.body)}\r\n"
                )
                head += "".join(f"{name}: {value}\r\n" for name, value in answer.headers.items())
                sock.sendall(head.encode() + b"\r\n" + answer.body)
        except OSError:
            pass  # the client went away (a timed-out call closes its connection)
        finally:
            sock.close()
            with self._lock:
                self.open -= 1

    def _read(self, sock: socket.socket, index: int, buffer: list[bytes]) -> Seen | None:
        while b"\r\n\r\n" not in buffer[0]:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer[0] += chunk
        head, buffer[0] = buffer[0].split(b"\r\n\r\n", 1)
        line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = line.split(" ")
        raw = [
            (name.strip(), value.strip()) for name, _, value in (f.partition(":") for f in lines)
        ]
        headers = {name.lower(): value for name, value in raw}
        length = int(headers.get("content-length", "0"))
        while len(buffer[0]) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buffer[0] += chunk
        body, buffer[0] = buffer[0][:length], buffer[0][length:]
        return Seen(index, method, target, headers, raw, body)

    def close(self) -> None:
        self.closing.set()
        self.listener.close()
        with self._lock:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes handlers blocked in recv
