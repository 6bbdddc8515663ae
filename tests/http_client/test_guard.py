"""The SSRF guard: URL checks and address classes as tables, resolution through the real
getaddrinfo of numeric hosts (no DNS traffic), and guarded transports against a loopback
server that records every connection. Nothing is contacted but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import trustme

from campaign.http_client import (
    HttpTransport,
    NotSent,
    Refused,
    Target,
    check_address,
    check_url,
    parse_allow_hosts,
    resolve,
)

NO_ALLOW: frozenset[str] = frozenset()

# --- check_url ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://example.com", Target("http", "example.com", 80, "/")),
        (
            "https://Example.COM/a/b?x=1&y=2#frag",
            Target("https", "example.com", 443, "/a/b?x=1&y=2"),
        ),
        ("HTTP://example.com:8080/p", Target("http", "example.com", 8080, "/p")),
        ("http://[2001:db8::1]:81/", Target("http", "2001:db8::1", 81, "/")),
        ("http://2130706433/", Target("http", "2130706433", 80, "/")),  # judged once resolved
        ("http://0x7f.1/", Target("http", "0x7f.1", 80, "/")),
        ("http://under_score.example./", Target("http", "under_score.example.", 80, "/")),
    ],
)
def test_check_url_returns_the_parts_to_call(url: str, target: Target) -> None:
    assert check_url(url) == target


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/file", "scheme is 'ftp'; web calls use http or https"),
        ("file:///etc/passwd", "scheme is 'file'"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme is 'gopher'"),
        ("example.com/path", "scheme is missing"),
        ("//example.com/path", "scheme is missing"),
        ("http://user:secret@example.com/", "user name or password"),
        ("http://example.com@127.0.0.1/", "user name or password"),
        ("http://@example.com/", "user name or password"),
        ("http:///path", "no host"),
        ("http://:8080/", "no host"),
        ("http://exa mple.com/", "a character a host name cannot have"),
        ("http://exa%6dple.com/", "a character a host name cannot have"),
        ("http://bücher.example/", "xn-- form"),
        ("http://[fe80::1%25eth0]/", "an IPv6 address with a zone"),
        ("http://[::1::2]/", "cannot be read"),
        ("http://[::1/", "cannot be read"),
        ("http://example.com:0/", "invalid port"),
        ("http://example.com:65536/", "invalid port"),
        ("http://example.com:http/", "invalid port"),
    ],
)
def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(Refused) as caught:
        check_url(url)

    assert reason in str(caught.value)


def test_a_refusal_is_a_not_sent_at_connect() -> None:
    with pytest.raises(NotSent) as caught:
        check_url("ftp://example.com/")

    assert isinstance(caught.value, Refused)
    assert caught.value.stage == "connect"
    assert caught.value.reason == str(caught.value)


def test_target_origin_keeps_the_port_only_when_it_is_not_the_default() -> None:
    assert check_url("https://example.com:443/x").origin == "https://example.com"
    assert check_url("http://example.com:8080/x").origin == "http://example.com:8080"
    assert check_url("http://[::1]:8080/x").origin == "http://[::1]:8080"


# --- check_address -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("127.0.0.1", "a loopback"),
        ("127.255.255.254", "a loopback"),
        ("::1", "a loopback"),
        ("10.1.2.3", "a private"),
        ("172.16.0.1", "a private"),
        ("172.31.255.255", "a private"),
        ("192.168.1.1", "a private"),
        ("fc00::1", "a private"),
        ("fd12:3456::1", "a private"),
        ("192.0.2.1", "a private"),  # documentation (TEST-NET-1)
        ("198.18.0.1", "a private"),  # benchmarking
        ("169.254.169.254", "a link-local"),
        ("169.254.0.1", "a link-local"),
        ("fe80::1", "a link-local"),
        ("fe80::1%2", "a link-local"),  # as getaddrinfo writes one with its scope
        ("224.0.0.1", "a multicast"),
        ("239.255.255.250", "a multicast"),
        ("ff02::1", "a multicast"),
        ("ff0e::1", "a multicast"),
        ("0.0.0.0", "an unspecified"),
        ("::", "an unspecified"),
        ("240.0.0.1", "a reserved"),
        ("255.255.255.255", "a reserved"),  # broadcast
        ("::7f00:1", "a reserved"),  # IPv4-compatible (deprecated) 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "a reserved"),  # NAT64 of 169.254.169.254
        ("100.64.0.1", "a carrier-grade NAT"),
        ("100.127.255.254", "a carrier-grade NAT"),
        ("fec0::1", "a site-local"),
        ("::ffff:127.0.0.1", "a loopback"),
        ("::ffff:10.0.0.1", "a private"),
        ("::ffff:169.254.169.254", "a link-local"),
        ("::ffff:224.0.0.1", "a multicast"),
        ("::ffff:0.0.0.0", "an unspecified"),
        ("::ffff:255.255.255.255", "a reserved"),
        ("::ffff:100.64.0.1", "a carrier-grade NAT"),
        ("::ffff:7f00:1", "a loopback"),  # the same mapped address, written in hex
        ("2002:7f00:1::", "a loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "a link-local"),  # 6to4 of 169.254.169.254
    ],
)
def test_check_address_refuses_addresses_that_are_not_public(ip: str, kind: str) -> None:
    with pytest.raises(Refused) as caught:
        check_address(ip, ip, 80, NO_ALLOW)

    assert f"is {kind} address; web calls may not reach it" in str(caught.value)


def test_the_reason_names_the_address() -> None:
    with pytest.raises(Refused) as caught:
        check_address("169.254.169.254", "169.254.169.254", 80, NO_ALLOW)

    assert str(caught.value) == (
        "169.254.169.254 is a link-local address; web calls may not reach it"
    )


def test_the_reason_names_the_host_and_the_ipv4_inside_a_mapped_address() -> None:
    with pytest.raises(Refused) as caught:
        check_address("::ffff:127.0.0.1", "hooks.example.com", 443, NO_ALLOW)

    assert str(caught.value) == (
        "hooks.example.com resolves to ::ffff:127.0.0.1 (IPv4 127.0.0.1), which is a loopback"
        " address; web calls may not reach it"
    )


@pytest.mark.parametrize(
    "ip",
    [
        "93.184.216.34",
        "8.8.8.8",
        "1.1.1.1",
        "100.63.255.255",  # just below carrier-grade NAT
        "100.128.0.0",  # just above it
        "172.32.0.1",  # just above 172.16.0.0/12
        "::ffff:93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
        "2001:4860:4860::8888",
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
    ],
)
def test_check_address_allows_public_addresses(ip: str) -> None:
    assert check_address(ip, "example.com", 443, NO_ALLOW) is None


@pytest.mark.parametrize(
    ("ip", "host", "port", "allow"),
    [
        ("127.0.0.1", "127.0.0.1", 8080, {"127.0.0.1:8080"}),
        ("127.0.0.1", "127.0.0.1", 8080, {"127.0.0.1"}),
        ("127.0.0.1", "localhost", 9000, {"localhost"}),
        ("10.0.0.7", "hooks.internal", 443, {"other", "hooks.internal:443"}),
        ("::1", "::1", 8080, {"[::1]:8080"}),
        ("::1", "::1", 8080, {"[::1]"}),
    ],
)
def test_a_host_in_the_allow_list_may_reach_any_address(
    ip: str, host: str, port: int, allow: set[str]
) -> None:
    assert check_address(ip, host, port, frozenset(allow)) is None


@pytest.mark.parametrize(
    ("ip", "host", "port", "allow"),
    [
        ("127.0.0.1", "127.0.0.1", 8080, {"127.0.0.1:9090"}),  # another port
        ("127.0.0.1", "localhost", 80, {"127.0.0.1"}),  # the host as written is what counts
        ("127.0.0.1", "2130706433", 80, {"127.0.0.1"}),
        ("127.0.0.1", "127.0.0.1", 80, {"localhost"}),
        ("10.0.0.7", "hooks.internal", 80, {"hooks.internal:443"}),
        ("::1", "::1", 8080, {"::1:8080"}),
    ],
)
def test_a_host_not_in_the_allow_list_is_refused(
    ip: str, host: str, port: int, allow: set[str]
) -> None:
    with pytest.raises(Refused):
        check_address(ip, host, port, frozenset(allow))


# --- parse_allow_hosts -------------------------------------------------------------------------


def test_parse_allow_hosts_reads_hosts_with_and_without_ports() -> None:
    assert parse_allow_hosts(" 127.0.0.1:8080, LocalHost,,[::1]:81 ,") == frozenset(
        {"127.0.0.1:8080", "localhost", "[::1]:81"}
    )
    assert parse_allow_hosts("") == frozenset()


@pytest.mark.parametrize(
    "text", ["http://localhost", "localhost/path", "user@localhost", "localhost:0", "::1", "a b"]
)
def test_parse_allow_hosts_rejects_entries_that_are_not_hosts(text: str) -> None:
    with pytest.raises(ValueError, match="is not a host or host:port"):
        parse_allow_hosts(text)


# --- resolve -----------------------------------------------------------------------------------

# Spellings of forbidden addresses that getaddrinfo reads as numbers (inet_aton's rules).
NUMERIC_SPELLINGS = [
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
    ("0", "0.0.0.0"),
    ("10.1", "10.0.0.1"),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
    ("0:0:0:0:0:0:0:1", "::1"),
]


def numeric(host: str) -> bool:
    """True when getaddrinfo reads `host` as an address, without any lookup."""
    try:
        socket.getaddrinfo(host, 80, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        return False
    return True


def run_resolve(url: str, allow: frozenset[str] = NO_ALLOW) -> str:
    async def go() -> str:
        return await resolve(check_url(url), allow, asyncio.get_running_loop())

    return asyncio.run(go())


@pytest.mark.parametrize(("host", "address"), NUMERIC_SPELLINGS)
def test_resolve_refuses_numeric_spellings_of_forbidden_addresses(host: str, address: str) -> None:
    assert numeric(host)  # so the real getaddrinfo below does no DNS
    written = f"[{host}]" if ":" in host else host
    with pytest.raises(Refused) as caught:
        run_resolve(f"http://{written}/latest/meta-data/")

    said = f"{host} resolves to {address}" if host != address else f"{address} (IPv4 127.0.0.1)"
    assert str(caught.value).startswith(said)


@pytest.mark.parametrize(("host", "address"), NUMERIC_SPELLINGS)
def test_resolve_returns_the_address_of_an_allowed_host(host: str, address: str) -> None:
    written = f"[{host}]" if ":" in host else host
    assert run_resolve(f"http://{written}:8080/", frozenset({f"{written}:8080"})) == address


def test_resolve_returns_a_numeric_public_address_without_an_allow_list() -> None:
    assert numeric("93.184.216.34")
    assert run_resolve("https://93.184.216.34/") == "93.184.216.34"


def test_resolve_refuses_a_host_that_cannot_be_looked_up() -> None:
    # A label over 63 characters fails in the IDNA encoding, before any lookup is made.
    host = "a" * 64 + ".example"
    with pytest.raises(Refused) as caught:
        run_resolve(f"http://{host}/")

    assert str(caught.value).startswith(f"{host} does not resolve")


@dataclass
class Zone:
    """A loop whose getaddrinfo answers from a table: the names these tests need cannot be
    looked up without DNS traffic."""

    names: Mapping[str, list[str]]
    asked: list[str] = field(default_factory=list)

    async def getaddrinfo(self, host: str, port: int, **_: object) -> list[tuple[object, ...]]:
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port),
            )
            for ip in self.names[host]
        ]


def resolve_in(zone: Zone, url: str, allow: frozenset[str] = NO_ALLOW) -> str:
    return asyncio.run(resolve(check_url(url), allow, zone))  # type: ignore[arg-type]


def test_resolve_refuses_a_name_when_any_of_its_addresses_is_forbidden() -> None:
    zone = Zone({"rebind.example": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(Refused) as caught:
        resolve_in(zone, "http://rebind.example/")

    assert str(caught.value) == (
        "rebind.example resolves to 10.0.0.5, which is a private address;"
        " web calls may not reach it"
    )


def test_resolve_returns_the_first_address_when_all_are_public_and_looks_up_once() -> None:
    zone = Zone({"api.example": ["2606:2800:220:1::1", "93.184.216.34", "93.184.216.34"]})

    assert resolve_in(zone, "https://api.example/") == "2606:2800:220:1::1"
    assert zone.asked == ["api.example"]


def test_resolve_refuses_a_name_that_does_not_exist() -> None:
    with pytest.raises(Refused) as caught:
        resolve_in(Zone({}), "http://nowhere.example/")

    assert (
        str(caught.value)
        == "nowhere.example does not resolve: [Errno -2] Name or service not known"
    )


def test_resolve_allows_any_address_of_an_allowed_host() -> None:
    zone = Zone({"hooks.internal": ["10.0.0.5", "169.254.169.254"]})

    assert resolve_in(zone, "http://hooks.internal/", frozenset({"hooks.internal"})) == "10.0.0.5"


# --- a guarded transport -----------------------------------------------------------------------


@dataclass
class Recorder:
    """A loopback server that answers 200 "ok" and records each connection and Host header."""

    port: int = 0
    connections: int = 0
    hosts: list[str] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "host":
                    self.hosts.append(value.strip())
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def recording(tls: ssl.SSLContext | None = None) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    server = await asyncio.start_server(recorder.handle, "127.0.0.1", 0, ssl=tls)
    recorder.port = server.sockets[0].getsockname()[1]
    try:
        yield recorder
    finally:
        server.close()
        await server.wait_closed()


def transport(url: str, guard: frozenset[str] | None, **options: object) -> HttpTransport:
    return HttpTransport(url, connect_timeout=2.0, read_timeout=2.0, guard=guard, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "allow"),
    [
        ("127.0.0.1", set()),
        ("127.0.0.1", {"127.0.0.1:1"}),  # allowed on another port only
        ("2130706433", {"127.0.0.1"}),  # the address is allowed, the host as written is not
        ("0x7f.1", set()),
        ("[::ffff:127.0.0.1]", set()),
    ],
)
def test_a_refused_call_through_the_transport_sends_nothing(host: str, allow: set[str]) -> None:
    async def go() -> tuple[Recorder, Refused]:
        async with recording() as server:
            client = transport(f"http://{host}:{server.port}", frozenset(allow))
            with pytest.raises(Refused) as caught:
                await client.request("POST", "/hook", body=b"{}")
            await client.close()
            await asyncio.sleep(0.05)  # a connection would have been accepted by now
        return server, caught.value

    server, refusal = asyncio.run(go())

    assert server.connections == 0
    assert "is a loopback address; web calls may not reach it" in str(refusal)


def test_a_guarded_transport_refuses_a_bad_url_at_construction() -> None:
    with pytest.raises(Refused, match="user name or password"):
        transport("http://user@127.0.0.1:8080", frozenset({"127.0.0.1"}))
    with pytest.raises(Refused, match="scheme is 'ftp'"):
        transport("ftp://127.0.0.1/", frozenset({"127.0.0.1"}))


def test_an_allowed_loopback_call_through_the_transport_works() -> None:
    async def go() -> tuple[Recorder, int, bytes]:
        async with recording() as server:
            client = transport(
                f"http://127.0.0.1:{server.port}", frozenset({f"127.0.0.1:{server.port}"})
            )
            answer = await client.request("GET", "/ping")
            await client.close()
        return server, answer.status, answer.body

    server, status, body = asyncio.run(go())

    assert (status, body) == (200, b"ok")
    assert server.connections == 1
    assert server.hosts == [f"127.0.0.1:{server.port}"]


def test_the_host_header_stays_as_written_while_the_call_goes_to_the_resolved_address() -> None:
    async def go() -> tuple[Recorder, int]:
        async with recording() as server:
            client = transport(f"http://2130706433:{server.port}", frozenset({"2130706433"}))
            answer = await client.request("GET", "/")
            await client.close()
        return server, answer.status

    server, status = asyncio.run(go())

    assert status == 200
    assert server.hosts == [f"2130706433:{server.port}"]


class RebindingLoop(asyncio.SelectorEventLoop):
    """Resolves `name` to 127.0.0.1 once and fails every later lookup, as a name whose owner
    changes its answer would (a failure, so a second lookup cannot reach anything)."""

    def __init__(self, name: str = "rebind.test") -> None:
        super().__init__()
        self.name = name
        self.lookups: list[object] = []

    async def getaddrinfo(self, host: object, port: object, **options: object) -> list:  # type: ignore[override]
        self.lookups.append(host)
        if host == self.name and len(self.lookups) == 1:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def test_the_connection_goes_to_the_checked_address_without_a_second_lookup() -> None:
    async def go() -> tuple[Recorder, int]:
        async with recording() as server:
            client = transport(f"http://rebind.test:{server.port}", frozenset({"rebind.test"}))
            answer = await client.request("GET", "/")
            await client.close()
        return server, answer.status

    loop = RebindingLoop()
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        server, status = runner.run(go())

    assert status == 200
    assert loop.lookups == ["rebind.test"]
    assert server.hosts == [f"rebind.test:{server.port}"]


def test_https_keeps_the_host_as_written_for_the_server_name_and_the_certificate() -> None:
    # The name resolves (once, to 127.0.0.1) through the loop, so no resolver of the machine's
    # is involved; the certificate is valid for the name only, not for 127.0.0.1.
    authority = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("service.test").configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    names: list[str | None] = []
    server_context.sni_callback = lambda _socket, name, _context: names.append(name)  # type: ignore[assignment,func-returns-value]

    async def go() -> tuple[Recorder, int]:
        async with recording(server_context) as server:
            client = transport(
                f"https://service.test:{server.port}",
                frozenset({"service.test"}),
                ssl_context=client_context,
            )
            answer = await client.request("GET", "/")
            await client.close()
        return server, answer.status

    loop = RebindingLoop("service.test")
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        server, status = runner.run(go())

    assert status == 200
    assert names == ["service.test"]
    assert server.hosts == [f"service.test:{server.port}"]


def test_without_a_guard_the_transport_calls_loopback_as_before() -> None:
    async def go() -> tuple[Recorder, int]:
        async with recording() as server:
            client = transport(f"http://127.0.0.1:{server.port}", None)
            answer = await client.request("GET", "/")
            await client.close()
        return server, answer.status

    server, status = asyncio.run(go())

    assert status == 200
    assert server.connections == 1
