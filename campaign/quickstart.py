"""`campaign run`: the API (gunicorn) and a worker as children of one foreground process.

The parent owns its children's lifetime: SIGINT (Ctrl-C) and SIGTERM (`kill`, a container stop)
both stop every child, gracefully first (SIGTERM, then SIGKILL after STOP_TIMEOUT); a child
gets SIGTERM too if the parent dies without stopping it (SIGKILL, a crash). A child that exits
on its own stops the others, so the run never serves half a service. The port is checked before
anything starts, and "serving" is printed only once the API answers on it. (The embedded Redis
a run started is stopped by the `run` command itself, whatever ends the run.)

Hand-written rather than honcho (a Procfile runner): honcho starts each line through a shell
and prints "started" when it forks, with no readiness check, no port check and nothing that
stops its children if it is killed; what is needed here is about a hundred lines.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from types import FrameType

import click

STOP_TIMEOUT = 30.0
START_TIMEOUT = 60.0
_POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class _Stop(Exception):
    """SIGTERM, raised in the main thread like KeyboardInterrupt is for SIGINT."""


def _raise_stop(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop


def check_port_free(port: int) -> None:
    """Fail in one line when something already listens on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} is already in use (another `campaign run`?); "
                    "choose another with --port or PORT"
                ) from None
            raise click.ClickException(f"cannot listen on port {port}: {exc.strerror}") from None


def _stop_with_parent() -> None:
    """In the child, before exec: SIGTERM when this process dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer means the server is up
    except OSError:
        return False


def _first_exited(children: dict[str, subprocess.Popen[bytes]]) -> str | None:
    """How the first child that ended did so ("the worker exited with code 1"), if one has."""
    for name, child in children.items():
        code = child.poll()
        if code is not None and code < 0:
            return f"the {name} was killed by {signal.Signals(-code).name}"
        if code is not None:
            return f"the {name} exited with code {code}"
    return None


def _stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children.values():
        try:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _serve(
    children: dict[str, subprocess.Popen[bytes]], ready_url: str, announce: str
) -> str | None:
    """Wait for `ready_url` to answer, announce, then wait for a child to exit: what went wrong,
    or None when a signal ended the wait."""
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while not _answers(ready_url):
            exited = _first_exited(children)
            if exited is not None:
                return f"{exited} before serving"
            if time.monotonic() > deadline:
                return f"nothing answered on {ready_url} within {START_TIMEOUT:.0f} s"
            time.sleep(_POLL_SECONDS)
        click.echo(announce)
        while (exited := _first_exited(children)) is None:
            time.sleep(_POLL_SECONDS)
        return f"{exited}; stopped the rest"
    except (KeyboardInterrupt, _Stop):
        return None


def supervise(
    commands: dict[str, list[str]],
    env: dict[str, str],
    ready_url: str,
    announce: str,
) -> None:
    """Start `commands` (name: argv), print `announce` once `ready_url` answers, and run until a
    signal or a child's exit; then stop every child. A child's exit is an
    error (one line, exit 1); a signal is a clean stop."""
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    children: dict[str, subprocess.Popen[bytes]] = {}
    failure: str | None = None
    try:
        for name, argv in commands.items():
            # Each child in its own process group: Ctrl-C reaches only this process, which then
            # signals each child once. (A child that got the terminal's SIGINT and then our
            # SIGTERM took gunicorn's 30 s graceful path half the time.)
            children[name] = subprocess.Popen(
                argv, env=env, process_group=0, preexec_fn=_stop_with_parent
            )
        failure = _serve(children, ready_url, announce)
    except (KeyboardInterrupt, _Stop):
        pass  # a signal while the children were starting
    finally:
        # A second Ctrl-C while stopping must not leave children behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            _stop(children)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, previous)
    if failure is not None:
        raise click.ClickException(failure)
