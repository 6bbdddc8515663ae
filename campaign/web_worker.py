"""The gunicorn worker of the web process: gthread, with each request read against a deadline.

Plain gthread hands a connection to a pool thread once its first byte arrives, then reads headers
and body with blocking calls and no deadline, so a few trickling clients hold every thread for as
long as they like. Here (1) a new connection waits for its first byte in the event loop, holding
no thread, and is closed after REQUEST_TIMEOUT if none comes; (2) a request must arrive whole
(headers and body) within REQUEST_TIMEOUT of its first byte, or the connection is closed as if the
client had hung up; (3) a worker whose threads are all busy stops accepting, so the other workers
take new clients instead of queueing them behind slow ones; (4) a worker that already holds a
connection waits ACCEPT_DEFER before taking another, so an idle sibling takes it first: the
processes share connections as a sync server's would, instead of one process (one core, under
the GIL) serving every keep-alive client while the other idles. The remaining bound, stated
honestly: an attacker who keeps WEB_CONCURRENCY x CAMPAIGN_WEB_THREADS sockets trickling,
reopened every CAMPAIGN_REQUEST_TIMEOUT seconds, still fills every thread; fewer sockets cannot
stop the API.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import TConn, ThreadWorker

from campaign.config import current_environ, load_config

# Long enough for an idle sibling, woken by the same readable listener, to accept first; short
# enough that a worker serving many keep-alive clients still accepts hundreds a second. Without
# it, bench.ingest's two connections both landed in one process: 15,317 envelopes/s against
# 20,117 with sync workers, in the same session.
ACCEPT_DEFER = 0.002


class DeadlineConnection(TConn):
    """A gthread connection whose reads stop at `deadline` (monotonic seconds)."""

    def __init__(self, *args: Any, deadline: float) -> None:
        super().__init__(*args)
        self.deadline = deadline
        self.request_timeout = 0.0

    def init(self) -> None:
        super().init()
        unreader = self.parser.unreader
        if type(unreader) is SocketUnreader:
            bounded = DeadlineUnreader(unreader.sock, self)
            bounded.buf = unreader.buf
            self.parser.unreader = bounded


class DeadlineUnreader(SocketUnreader):
    """Socket reads that return end-of-stream once the connection's deadline has passed.

    End-of-stream rather than an exception: gunicorn then closes the connection quietly (while
    reading headers) or the application sees a short body and answers 400 (while reading it).
    """

    def __init__(self, sock: socket.socket, connection: DeadlineConnection) -> None:
        super().__init__(sock)
        self.connection = connection

    def chunk(self, size_hint: int | None = None) -> bytes:
        remaining = self.connection.deadline - time.monotonic()
        if remaining <= 0:
            return b""
        self.sock.settimeout(remaining)
        try:
            return super().chunk(size_hint)
        except TimeoutError:
            return b""
        finally:
            # The response is written with the same socket: a client that stops reading it
            # must not hold the thread either.
            self.sock.settimeout(self.connection.request_timeout)


class DeadlineThreadWorker(ThreadWorker):
    """gthread with the three bounds of the module docstring."""

    def init_process(self) -> None:
        self.request_timeout: float = load_config(current_environ())["REQUEST_TIMEOUT"]
        self.busy = 0
        super().init_process()

    def set_accept_enabled(self, enabled: bool) -> None:
        # gthread's loop calls this whenever its own answer changes; it is asked again every
        # turn while the two disagree, so accepting resumes as soon as a thread is free.
        super().set_accept_enabled(enabled and self.busy < self.cfg.threads)

    def accept(self, listener: socket.socket) -> None:
        """Accept into the event loop, not a thread: the connection waits there for its bytes."""
        if self.nr_conns:
            time.sleep(ACCEPT_DEFER)
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        connection = DeadlineConnection(
            self.cfg,
            client,
            address,
            listener.getsockname(),
            deadline=time.monotonic() + self.request_timeout,
        )
        connection.request_timeout = self.request_timeout
        # murder_pending() closes it at `timeout` if no byte comes; every entry gets the same
        # delay, so the deque stays in timeout order as it requires.
        connection.timeout = connection.deadline
        self.pending_conns.append(connection)
        self.poller.register(
            client, selectors.EVENT_READ, partial(self.on_pending_socket_readable, connection)
        )

    def enqueue_req(self, conn: TConn) -> None:
        self.busy += 1
        if self.busy >= self.cfg.threads:
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def finish_request(self, conn: TConn, fs: Any) -> None:
        self.busy -= 1
        super().finish_request(conn, fs)

    def handle(self, conn: TConn) -> Any:
        if isinstance(conn, DeadlineConnection):
            conn.deadline = time.monotonic() + self.request_timeout
        return super().handle(conn)
