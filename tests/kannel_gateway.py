"""The real Kannel gateway on loopback for tests: bearerbox + smsbox, with Kannel's own `fakesmsc`
as the SMS centre, whose log of received MT messages is parsed into `ReceivedSms` records and
which, given an `sms-service` get-url, delivers the MO messages a test hands it (`send_mo`).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx
import pytest

FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
# fakesmsc logs each line bearerbox writes to it as `Got message N: <sender receiver type data>`.
_GOT_MESSAGE = re.compile(r"Got message \d+: <(?P<line>.*)>$")
# ... and each MO line it has written to bearerbox as `fakesmsc: sent message N`.
_SENT_MESSAGE = re.compile(r"fakesmsc: sent message (?P<count>\d+)$")
_TYPES = frozenset({"text", "data", "ucs-2", "udh"})
# fakesmsc reads its stdin with fgets into 256 bytes: a longer line would become two messages.
_MAX_MO_LINE = 255


def kannel_available() -> bool:
    """Whether bearerbox, smsbox and fakesmsc are installed (Debian: kannel + kannel-extras)."""
    return bool(shutil.which("bearerbox") and shutil.which("smsbox")) and Path(FAKESMSC).exists()


def require_kannel() -> None:
    """Skip a test that needs the real gateway where it is not installed; under CI, which
    installs it, fail instead: a skip there would hide a broken setup."""
    if not kannel_available():
        reason = "Kannel is not installed: apt-get install -y kannel kannel-extras"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class ReceivedSms:
    """One MT message as the fake SMS centre saw it; `kind` is the fakesmsc line type."""

    sender: str
    receiver: str
    text: str
    kind: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _decode(kind: str, payload: str) -> str:
    """Turn a fakesmsc line payload back into text.

    `text` is raw (7-bit coding, UTF-8 here); `data` is URL-encoded 8-bit bytes; `ucs-2` is
    URL-encoded UTF-16BE; `udh` (only if a message was split, which `max-sms-octets` prevents)
    is `UDH data BYTES` and is decoded as UTF-16BE when that is the only reading that fits.
    """
    if kind == "text":
        return payload
    if kind == "udh":
        payload = payload.split(" data ", 1)[-1]
    raw = urllib.parse.unquote_to_bytes(payload.replace("+", " "))
    if kind == "ucs-2":
        return raw.decode("utf-16-be", errors="replace")
    if kind == "udh" and (b"\x00" in raw or not _is_utf8(raw)):
        return raw.decode("utf-16-be", errors="replace")
    return raw.decode("utf-8", errors="replace")


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class KannelGateway:
    """bearerbox, smsbox and fakesmsc on free loopback ports, configured in `workdir`.

    Use as a context manager; every wait is bounded by `startup_timeout`. Messages the fake SMS
    centre receives accumulate in `received`; `wait_for(n, timeout)` blocks until n have arrived.
    With `inbound_url`, smsbox has an `sms-service` that fetches that get-url for every MO
    message, and `send_mo` makes fakesmsc deliver one.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        username: str = "campaign",
        password: str = "kannel-secret",
        inbound_url: str | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.username, self.password = username, password
        self.inbound_url = inbound_url
        self.startup_timeout = startup_timeout
        self.admin_port, self.smsbox_port = _free_port(), _free_port()
        self.smsc_port, self.sendsms_port = _free_port(), _free_port()
        self.admin_password = "kannel-admin"
        self.sendsms_url = f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._received: list[ReceivedSms] = []
        self._mo_sent = 0  # MO lines fakesmsc has written to bearerbox
        self._condition = threading.Condition()
        self._reader: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> KannelGateway:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Write kannel.conf, start the three processes and wait until a send can go through."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "kannel.conf"
        config.write_text(self._config())
        try:
            self._spawn("bearerbox", ["bearerbox", "-v", "1", str(config)])
            self._wait_until(lambda: self._status() is not None, "bearerbox admin port")
            self._spawn("smsbox", ["smsbox", "-v", "1", str(config)])
            self._start_fakesmsc()
            self._wait_until(self._ready, "smsbox and fakesmsc to connect to bearerbox")
            self._wait_until(self._sendsms_answers, "the sendsms port")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate every process (smsbox and fakesmsc first), then kill what is left."""
        for name in ("smsbox", "fakesmsc", "bearerbox"):
            process = self._processes.get(name)
            if process is not None and process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 5.0
        for process in self._processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5.0)
        if self._reader is not None:
            # fakesmsc has exited, so its stderr ends and the reader finishes before we close it.
            self._reader.join(timeout=5.0)
            self._reader = None
        for process in self._processes.values():
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self._processes.clear()

    # -- what the SMS centre received ------------------------------------------------------------

    @property
    def received(self) -> list[ReceivedSms]:
        """A snapshot of the messages fakesmsc has received so far, in order."""
        with self._condition:
            return list(self._received)

    def wait_for(
        self,
        count: int,
        timeout: float = 5.0,
        until: Callable[[list[ReceivedSms]], bool] | None = None,
    ) -> list[ReceivedSms]:
        """Wait until at least `count` messages have arrived (and `until` holds for them: a
        text's second line arrives after its first); TimeoutError lists what did."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self._received) < count or (until and not until(self._received)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"fakesmsc received {len(self._received)} of {count} messages "
                        f"within {timeout}s: {self._received!r}"
                    )
                self._condition.wait(remaining)
            return list(self._received)

    # -- MO messages -------------------------------------------------------------------------------

    def send_mo(self, sender: str, receiver: str, text: str, timeout: float = 5.0) -> None:
        """Make fakesmsc deliver `text` from `sender` to `receiver`, and wait until it has.

        Printable ASCII goes as a `text` line (bearerbox's 7-bit coding, which Kannel holds as
        UTF-8); anything else, a line break included (a line cannot hold one), as `ucs2` with
        URL-encoded UTF-16BE, as a phone sends a text outside GSM-7. Waiting for fakesmsc to
        report it sent keeps one line in its stdin at a time: it polls the descriptor and then
        reads with stdio, so a second line already buffered would wait for a third.
        """
        if self.inbound_url is None:
            raise RuntimeError("this gateway has no sms-service: start it with inbound_url")
        if text.isascii() and text.isprintable():
            line = f"{sender} {receiver} text {text}"
        else:
            payload = urllib.parse.quote_plus(text.encode("utf-16-be"), safe="")
            line = f"{sender} {receiver} ucs2 {payload}"
        encoded = line.encode() + b"\n"
        if len(encoded) > _MAX_MO_LINE:
            raise ValueError(f"fakesmsc reads at most {_MAX_MO_LINE} bytes a line: {line!r}")
        stdin = self._processes["fakesmsc"].stdin
        assert stdin is not None
        with self._condition:
            count = self._mo_sent + 1
            stdin.write(encoded)
            stdin.flush()
            deadline = time.monotonic() + timeout
            while self._mo_sent < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"fakesmsc did not send {line!r} within {timeout}s")
                self._condition.wait(remaining)

    # -- internals ------------------------------------------------------------------------------

    def _config(self) -> str:
        logs = self.workdir
        return f"""\
group = core
admin-port = {self.admin_port}
admin-interface = 127.0.0.1
admin-password = {self.admin_password}
smsbox-port = {self.smsbox_port}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{logs / "bearerbox.log"}"
log-level = 1
access-log = "{logs / "access.log"}"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = {self.smsc_port}
connect-allow-ip = 127.0.0.1
# Large enough that bearerbox never splits a message: fakesmsc then gets one line per text,
# with its coding (text / ucs-2), instead of UDH parts whose coding it does not show.
max-sms-octets = 32000

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.smsbox_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{logs / "smsbox.log"}"
log-level = 1
{self._smsbox_retries()}
group = sendsms-user
username = {self.username}
password = {self.password}
max-messages = 10
concatenation = true
{self._sms_service()}"""

    def _smsbox_retries(self) -> str:
        """With an sms-service: smsbox acknowledges an MO message to bearerbox before it fetches
        the get-url, so a fetch that fails is made again by smsbox alone, if it is told to."""
        if self.inbound_url is None:
            return ""
        return """\
# A fetch answered other than 200 or 202 (or not at all) is made once more, at once, with the
# same URL (the same %I). Delivery reports are fetched the same way.
http-request-retry = 1
http-queue-delay = 0
"""

    def _sms_service(self) -> str:
        """The `sms-service` that hands every MO message to `inbound_url`."""
        if self.inbound_url is None:
            return ""
        return f"""
group = sms-service
keyword = default
catch-all = yes
# smsbox texts the sender whatever the get-url answers, and its "could not fetch" text when the
# fetch fails; omit-empty would drop only an empty answer. Our replies go out through sendsms
# like every text, so this service sends none itself.
max-messages = 0
get-url = "{self.inbound_url}"
"""

    def _spawn(
        self, name: str, argv: list[str], *, stderr_pipe: bool = False, stdin_pipe: bool = False
    ) -> None:
        output = open(self.workdir / f"{name}.out", "ab")  # noqa: SIM115 - outlives this call
        self._processes[name] = subprocess.Popen(
            argv,
            cwd=self.workdir,
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.PIPE if stderr_pipe else output,
        )
        output.close()  # the child holds its own descriptor

    def _start_fakesmsc(self) -> None:
        """Start fakesmsc as a pure receiver (`-m 0`: send no MO messages) or, with an
        sms-service, in its interactive mode: each line of its stdin is one MO message, sent
        at once (`-i 0`); it then reads bearerbox's MT lines at least once a second.

        It connects to bearerbox's fake SMSC listener once and exits if that is not up yet, so it
        is restarted until it stays connected.
        """
        argv = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-v", "0"]
        interactive = self.inbound_url is not None
        if interactive:
            argv += ["-i", "0"]
        else:
            # fakesmsc insists on an MO template even with -m 0 (without one it is interactive).
            argv += ["-m", "0", "0 0 text unused"]
        deadline = time.monotonic() + self.startup_timeout
        while True:
            self._spawn("fakesmsc", argv, stderr_pipe=True, stdin_pipe=interactive)
            process = self._processes["fakesmsc"]
            try:
                process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                break  # still running: connected
            assert process.stderr is not None
            (self.workdir / "fakesmsc.log").write_bytes(process.stderr.read())
            process.stderr.close()
            if process.stdin is not None:
                process.stdin.close()
            if time.monotonic() > deadline:
                raise RuntimeError(f"fakesmsc could not connect to bearerbox\n{self._logs()}")
        assert process.stderr is not None
        self._reader = threading.Thread(
            target=self._read_fakesmsc, args=(process.stderr,), name="fakesmsc-reader", daemon=True
        )
        self._reader.start()

    def _read_fakesmsc(self, stream: IO[bytes]) -> None:
        log = open(self.workdir / "fakesmsc.log", "ab")  # noqa: SIM115 - closed below
        try:
            for raw_line in stream:
                log.write(raw_line)
                log.flush()
                self._record(raw_line.decode("utf-8", errors="replace").rstrip("\r\n"))
        finally:
            log.close()

    def _record(self, log_line: str) -> None:
        sent = _SENT_MESSAGE.search(log_line)
        if sent is not None:
            with self._condition:
                self._mo_sent = int(sent["count"])
                self._condition.notify_all()
            return
        found = _GOT_MESSAGE.search(log_line)
        if found is None:
            return
        line = found["line"]
        fields = line.split(" ", 3)
        with self._condition:
            if len(fields) == 4 and fields[2] in _TYPES:
                sender, receiver, kind, payload = fields
                self._received.append(ReceivedSms(sender, receiver, _decode(kind, payload), kind))
            elif self._received and self._received[-1].kind == "text":
                # A 7-bit text is written raw, so a newline in it reaches fakesmsc as a second
                # line: join it back onto the message it belongs to.
                self._received[-1].text += "\n" + line
            self._condition.notify_all()

    def _status(self) -> str | None:
        try:
            reply = httpx.get(
                f"http://127.0.0.1:{self.admin_port}/status.txt",
                params={"password": self.admin_password},
                timeout=1.0,
            )
        except httpx.TransportError:
            return None
        return reply.text if reply.status_code == 200 else None

    def _ready(self) -> bool:
        status = self._status() or ""
        smsc_online = f"FAKE:{self.smsc_port} (online" in status
        smsbox_online = re.search(r"smsbox:.*on-line", status) is not None
        return smsc_online and smsbox_online

    def _sendsms_answers(self) -> bool:
        try:
            httpx.get(self.sendsms_url, timeout=1.0)
        except httpx.TransportError:
            return False
        return True

    def _wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not condition():
            for name, process in self._processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}\n{self._logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}\n{self._logs()}")
            time.sleep(0.1)

    def _logs(self) -> str:
        """The tail of every log, for a failure message that explains itself."""
        parts = []
        for path in sorted(self.workdir.glob("*.out")) + sorted(self.workdir.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)
