"""The web-call executor: a batch of web calls made concurrently on an event loop of its own,
each through the SSRF guard and within its own timeout, OAuth2 tokens shared per client. Used by
the run job and by Test HTTP Request; what needs no IO (requests, tokens, variables) is flows/.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from campaign.flows import web_calls
from campaign.flows.extraction import ExtractionFailed, ResponseVariable, extract
from campaign.flows.oauth2 import Client, Token, TokenCache, TokenFailed, read_token, token_request
from campaign.http_client import (
    MAX_ANSWER,
    AnswerTooLarge,
    HttpTransport,
    NoAnswer,
    NotSent,
    Refused,
    Response,
    check_url,
)

log = logging.getLogger(__name__)

# Transports kept (one per origin and User-Agent), least recently used closed past it, so
# tenants' many hosts cannot grow the process without bound.
MAX_TRANSPORTS = 256
# A variable's longest value: CAMPAIGN_MAX_META_BYTES' default (callers pass the setting).
DEFAULT_MAX_VALUE_BYTES = 2048
# A token answer is a few hundred bytes of JSON; oauth2.MAX_TOKEN_LENGTH is far below this.
TOKEN_ANSWER_BYTES = MAX_ANSWER

# Where a call is, so a timeout's reason can say whether anything was sent.
_WAITING, _TOKEN, _CALLING = "waiting", "token", "calling"


@dataclass(frozen=True)
class Call:
    """One web call to make: its Idempotency-Key (`<envelope id>:<step>`, or
    `test:<activity id>:<n>` for a test request), the activity's settings and the run's
    variables."""

    key: str
    call: web_calls.WebCall
    variables: Mapping[str, str]
    oauth2: Client | None = None
    wanted: Sequence[ResponseVariable] = ()


@dataclass(frozen=True)
class Result:
    """What a call came to. `request` is `Request.display()` (secrets masked), None when the
    templates did not make one; `body` is cut at SHOWN_ANSWER_BYTES; `variables` is empty
    unless it succeeded."""

    key: str
    success: bool
    reason: str | None
    request: dict[str, Any] | None
    status: int | None
    headers: dict[str, str]
    body: bytes
    variables: dict[str, str]


@dataclass
class _Attempt:
    """One call on its way to a Result."""

    call: Call
    phase: str = _WAITING
    origin: str = ""
    request: web_calls.Request | None = None
    answer: Response | None = None
    reason: str | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def fail(self, reason: str) -> None:
        self.reason = reason

    def timed_out(self, timeout: float) -> None:
        if self.phase == _WAITING:
            self.fail(
                f"timed out after {timeout:g} s waiting for a free connection to {self.origin}"
                " (nothing was sent)"
            )
        elif self.phase == _TOKEN:
            self.fail(f"timed out after {timeout:g} s waiting for the OAuth2 token")
        else:
            self.fail(f"timed out after {timeout:g} s without a complete answer")

    def result(self) -> Result:
        answer = self.answer
        return Result(
            key=self.call.key,
            success=self.reason is None,
            reason=self.reason,
            request=self.request.display() if self.request is not None else None,
            status=answer.status if answer is not None else None,
            headers=dict(answer.headers) if answer is not None else {},
            body=answer.body[: web_calls.SHOWN_ANSWER_BYTES] if answer is not None else b"",
            variables=self.variables if self.reason is None else {},
        )


@dataclass
class _Pooled:
    transport: HttpTransport
    users: int = 0


class WebCaller:
    """Makes web calls, used by one thread (a run job's, or a web request's).

    `call_many` runs a batch to its end: every call concurrently, at most `per_host`
    connections to one origin, each call's Result known within its own `timeout` of the batch
    starting (waiting for a free connection, the OAuth2 token and the one retry after a 401
    included): the bound the sweep's stuck margin relies on. A timed-out request's connection
    is closed, never reused. An exception from outside (a job timeout) cancels every call in
    flight before it propagates, so nothing leaves later; their `calling` rows are the sweep's.

    Tokens are kept in `token_cache` (on the monotonic clock); calls with the same client that
    find none share one fetch, and a token that fetch gives serves them all, even one answered
    without `expires_in`.
    """

    def __init__(
        self,
        *,
        allow_hosts: frozenset[str],
        per_host: int,
        token_cache: TokenCache | None = None,
        connect_timeout: float = 5.0,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        max_transports: int = MAX_TRANSPORTS,
    ) -> None:
        if per_host < 1 or max_transports < 1:
            raise ValueError("per_host and max_transports must be at least 1")
        self.allow_hosts, self.per_host = allow_hosts, per_host
        self.connect_timeout, self.max_value_bytes = connect_timeout, max_value_bytes
        self.max_transports = max_transports
        self._tokens = token_cache if token_cache is not None else TokenCache()
        # The standard loop, not uvloop: providers/base.py says why (a job timeout must
        # interrupt a batch in flight).
        self._runner = asyncio.Runner()
        self._transports: OrderedDict[tuple[str, str], _Pooled] = OrderedDict()
        # One batch's connection slots by origin, and its token fetches in flight by client.
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._fetches: dict[tuple[str, str, str, str], asyncio.Task[Token]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    def call_many(self, calls: Sequence[Call]) -> list[Result]:
        """Make every call; their Results in the order of `calls`. A call's failure is its
        Result, never an exception."""
        if self._closed:
            raise RuntimeError("the web caller is closed")
        if not calls:
            return []
        try:
            return self._runner.run(self._call_all(calls))
        except BaseException:
            self._cancel_tasks()
            raise

    def close(self) -> None:
        """Close every connection; a later `call_many` raises RuntimeError."""
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.run(self._close_all())
        finally:
            self._runner.close()

    # --- one batch -----------------------------------------------------------------------------

    async def _call_all(self, calls: Sequence[Call]) -> list[Result]:
        self._slots = {}
        try:
            return list(await asyncio.gather(*(self._call(call) for call in calls)))
        finally:
            # A fetch whose every caller timed out must not resume in the next batch.
            fetches = list(self._fetches.values())
            for fetch in fetches:
                fetch.cancel()
            await asyncio.gather(*fetches, return_exceptions=True)

    async def _call(self, call: Call) -> Result:
        attempt = _Attempt(call)
        timeout = float(call.call.timeout)
        try:
            async with asyncio.timeout(timeout):
                await self._make(attempt, timeout)
        except TimeoutError:
            attempt.timed_out(timeout)
        except Exception:  # a bug: this call fails, the batch goes on
            log.exception("web call %s failed unexpectedly", call.key)
            attempt.fail("the call failed unexpectedly")
        return attempt.result()

    async def _make(self, attempt: _Attempt, timeout: float) -> None:
        call = attempt.call
        try:
            request = web_calls.build_request(call.call, call.variables, idempotency_key=call.key)
            attempt.request = request
            target = check_url(request.url)
        except web_calls.Unbuildable as error:
            return attempt.fail(error.reason)
        except Refused as error:  # before any token is fetched for it
            return attempt.fail(error.reason)
        attempt.origin = target.origin
        token: Token | None = None
        # A token fetched for this call is not fetched again after a 401: it is as new as any.
        retried = True
        for _ in range(2):
            if call.oauth2 is not None:
                attempt.phase = _TOKEN
                try:
                    token, cached = await self._token(call.oauth2, timeout)
                except TokenFailed as error:
                    return attempt.fail(error.reason)
                retried = retried and not cached
                request = web_calls.build_request(
                    call.call,
                    call.variables,
                    idempotency_key=call.key,
                    bearer_token=token.access_token,
                )
                attempt.request = request
            answer = await self._send(attempt, request, target.origin, target.path)
            if answer is None:
                return None
            attempt.answer = answer
            if answer.status != 401 or call.oauth2 is None or token is None:
                break
            if not self._tokens.after_unauthorized(call.oauth2, token, retried=retried):
                break
            retried = True
        self._read(attempt, answer)
        return None

    def _read(self, attempt: _Attempt, answer: Response) -> None:
        status = answer.status
        if 300 <= status < 400:
            return attempt.fail(f"answered {status}; redirects are not followed")
        if not 200 <= status < 300:
            return attempt.fail(f"answered {status}")
        try:
            attempt.variables = extract(
                answer.body, attempt.call.wanted, max_value_bytes=self.max_value_bytes
            )
        except ExtractionFailed as error:
            attempt.fail(error.reason)
        return None

    async def _send(
        self, attempt: _Attempt, request: web_calls.Request, origin: str, path: str
    ) -> Response | None:
        """The answer, or None with the attempt failed saying why."""
        user_agent, headers = web_calls.USER_AGENT, {}
        for name, value in request.headers.items():
            if name.lower() == "user-agent":
                user_agent = value
            else:
                headers[name] = value
        attempt.phase = _WAITING
        async with self._slot(origin):
            attempt.phase = _CALLING
            pooled = self._take(origin, user_agent)
            try:
                return await pooled.transport.request(
                    request.method,
                    path,
                    body=request.body,
                    headers=headers,
                    max_answer=web_calls.MAX_ANSWER_BYTES,
                )
            except NotSent as error:  # Refused too: its message is the guard's reason
                attempt.fail(str(error))
            except NoAnswer as error:
                attempt.fail(_no_answer(error, web_calls.MAX_ANSWER_BYTES))
            except ValueError as error:  # a character HTTP cannot carry; nothing was sent
                attempt.fail(f"the request cannot be sent: {error}")
            finally:
                self._give_back(pooled)
        return None

    # --- OAuth2 --------------------------------------------------------------------------------

    async def _token(self, client: Client, timeout: float) -> tuple[Token, bool]:
        """A token for `client` and whether it came from the cache; TokenFailed saying why not."""
        cached = self._tokens.get(client, time.monotonic())
        if cached is not None:
            return cached, True
        fetch = self._fetches.get(client.key)
        if fetch is None:
            fetch = asyncio.ensure_future(self._fetch_token(client, timeout))
            self._fetches[client.key] = fetch
            fetch.add_done_callback(functools.partial(self._fetched, client.key))
        # Shielded: a caller that times out leaves the fetch to the others waiting for it.
        return await asyncio.shield(fetch), False

    def _fetched(self, key: tuple[str, str, str, str], fetch: asyncio.Task[Token]) -> None:
        if self._fetches.get(key) is fetch:
            del self._fetches[key]
        if not fetch.cancelled():
            fetch.exception()  # retrieved: every caller may have timed out already

    async def _fetch_token(self, client: Client, timeout: float) -> Token:
        asked = token_request(client)
        try:
            target = check_url(asked.url)
        except Refused as error:
            raise TokenFailed(f"the token URL: {error.reason}") from None
        try:
            async with asyncio.timeout(timeout), self._slot(target.origin):
                pooled = self._take(target.origin, web_calls.USER_AGENT)
                try:
                    answer = await pooled.transport.request(
                        "POST",
                        target.path,
                        body=asked.body,
                        headers=asked.headers,
                        max_answer=TOKEN_ANSWER_BYTES,
                    )
                finally:
                    self._give_back(pooled)
        except TimeoutError:
            raise TokenFailed(f"the token URL did not answer within {timeout:g} s") from None
        except NotSent as error:
            raise TokenFailed(f"the token URL: {error}") from None
        except NoAnswer as error:
            raise TokenFailed(f"the token URL: {_no_answer(error, TOKEN_ANSWER_BYTES)}") from None
        except ValueError as error:
            raise TokenFailed(f"the token request cannot be sent: {error}") from None
        token = read_token(answer.status, answer.body, time.monotonic())
        self._tokens.put(client, token)
        return token

    # --- connections ---------------------------------------------------------------------------

    def _slot(self, origin: str) -> asyncio.Semaphore:
        """The batch's `per_host` connections to `origin`, shared by calls and token fetches
        (each takes one at a time, so none waits for a slot while holding another)."""
        slot = self._slots.get(origin)
        if slot is None:
            slot = self._slots[origin] = asyncio.Semaphore(self.per_host)
        return slot

    def _take(self, origin: str, user_agent: str) -> _Pooled:
        """The transport to `origin`, reused across batches. Keyed by User-Agent too, since a
        transport's User-Agent is fixed and a request's own would be a second one."""
        key = (origin, user_agent)
        pooled = self._transports.get(key)
        if pooled is None:
            transport = HttpTransport(
                origin,
                connect_timeout=self.connect_timeout,
                # Each call's own timeout bounds it; these only stop a transport's own timers
                # from cutting a call short.
                read_timeout=float(web_calls.MAX_TIMEOUT),
                pool_timeout=float(web_calls.MAX_TIMEOUT),
                max_connections=self.per_host,
                headers={"User-Agent": user_agent},
                max_answer=web_calls.MAX_ANSWER_BYTES,
                guard=self.allow_hosts,
            )
            pooled = self._transports[key] = _Pooled(transport)
        self._transports.move_to_end(key)
        pooled.users += 1
        self._evict()
        return pooled

    def _give_back(self, pooled: _Pooled) -> None:
        pooled.users -= 1
        self._evict()

    def _evict(self) -> None:
        """Close the least recently used transports no call is using, down to the bound."""
        excess = len(self._transports) - self.max_transports
        if excess <= 0:
            return
        for key, pooled in list(self._transports.items()):
            if excess == 0:
                break
            if pooled.users == 0:
                del self._transports[key]
                excess -= 1
                closing = asyncio.ensure_future(pooled.transport.close())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)

    def _cancel_tasks(self) -> None:
        """Cancel what an interruption left pending, and let it end, before anything else runs
        on this loop (a later batch would otherwise resume it)."""
        loop = self._runner.get_loop()
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    async def _close_all(self) -> None:
        transports = [pooled.transport for pooled in self._transports.values()]
        self._transports.clear()
        await asyncio.gather(
            *(transport.close() for transport in transports),
            *self._closing,
            return_exceptions=True,
        )


def _no_answer(error: NoAnswer, cap: int) -> str:
    if isinstance(error.__cause__, AnswerTooLarge):
        size = f"{cap // (1024 * 1024)} MiB" if cap % (1024 * 1024) == 0 else f"{cap} bytes"
        return f"the answer is over {size}; the rest was not read"
    return str(error)
