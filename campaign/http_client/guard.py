"""The SSRF guard for web calls and webhooks: an http(s) URL whose host is resolved once, every
address checked, and the call made to that address, so a second lookup (DNS rebinding) never
happens. Carriers do not use it: their URLs are operator settings.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import urlsplit

from campaign.http_client.pool import NotSent

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}
# What a host name may hold once lower-cased (an IPv6 literal is checked by ipaddress instead).
_NAME = re.compile(r"[a-z0-9._-]+")
# Only to word the reason: is_global is what refuses it.
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")


class Refused(NotSent):
    """A URL or address the guard will not call; nothing was sent. The message says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, stage="connect")
        self.reason = reason


class Target(NamedTuple):
    """A checked URL: scheme, host as written (lower-cased, no brackets), port, path and query."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def origin(self) -> str:
        """`scheme://host[:port]`, the base URL of a transport to this target."""
        return f"{self.scheme}://{_authority(self.host, self.port, self.scheme)}"


def check_url(url: str) -> Target:
    """The URL's parts, or Refused: a scheme other than http/https, a user name or password
    (`http://allowed@elsewhere/` misleads readers, and credentials belong in headers), no host,
    a host that is not an ASCII name or an IPv6 literal, or an invalid port. The fragment is
    dropped (it is never sent)."""
    try:
        parts = urlsplit(url)
    except ValueError as error:  # an unclosed bracket, a bracketed host that is not IPv6
        raise Refused(f"the URL cannot be read: {error}") from None
    if parts.scheme not in _DEFAULT_PORTS:
        written = f"is {parts.scheme[:16]!r}" if parts.scheme else "is missing"
        raise Refused(f"the URL's scheme {written}; web calls use http or https")
    if "@" in parts.netloc:
        raise Refused("the URL has a user name or password; send credentials in a header")
    host = parts.hostname
    if not host:
        raise Refused("the URL has no host")
    if not host.isascii():
        raise Refused("the host is not ASCII; write an international name in its xn-- form")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise Refused("the host is not a valid IPv6 address") from None
        if "%" in host:  # a zone names one of our interfaces: never a web call's business
            raise Refused("the host is an IPv6 address with a zone")
    elif not _NAME.fullmatch(host):
        raise Refused("the host has a character a host name cannot have")
    try:
        port = parts.port
    except ValueError:
        raise Refused("the URL has an invalid port") from None
    if port == 0:
        raise Refused("the URL has an invalid port")
    if port is None:
        port = _DEFAULT_PORTS[parts.scheme]
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(parts.scheme, host, port, path)


def check_address(ip: str, host: str, port: int, allow_hosts: frozenset[str]) -> None:
    """Refused unless `ip` is a public unicast address or `host` (as written, alone or as
    `host:port`) is in `allow_hosts`. An IPv6 address that carries an IPv4 one (mapped,
    `::ffff:127.0.0.1`, or 6to4) is judged by the IPv4 address too."""
    if _allowed(host, port, allow_hosts):
        return
    address = ipaddress.ip_address(ip)
    kind = _forbidden(address)
    embedded = _embedded_ipv4(address)
    if kind is None and embedded is not None:
        kind = _forbidden(embedded)
    if kind is None:
        return
    shown = f"{ip} (IPv4 {embedded})" if embedded is not None else ip
    if host != ip.lower():
        shown = f"{host} resolves to {shown}, which"
    raise Refused(f"{shown} is {kind} address; web calls may not reach it")


async def resolve(
    target: Target, allow_hosts: frozenset[str], loop: asyncio.AbstractEventLoop
) -> str:
    """The one address to connect to: the first the host resolves to, once every address it
    resolves to has passed `check_address` (one forbidden address refuses the call, since a
    later connection could be steered to it). Refused when the host does not resolve."""
    try:
        infos = await loop.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as error:
        raise Refused(f"{target.host} does not resolve: {error}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise Refused(f"{target.host} does not resolve")
    for ip in addresses:
        check_address(ip, target.host, target.port, allow_hosts)
    return addresses[0]


def parse_allow_hosts(text: str) -> frozenset[str]:
    """`CAMPAIGN_WEB_CALL_ALLOW_HOSTS`: comma-separated `host` or `host:port` (IPv6 in
    brackets), lower-cased; ValueError for an entry that is not one (a URL, a path)."""
    entries = frozenset(entry.strip().lower() for entry in text.split(",") if entry.strip())
    for entry in entries:
        try:
            target = check_url(f"http://{entry}/")
        except Refused as error:
            raise ValueError(f"{entry!r} is not a host or host:port: {error}") from None
        host = f"[{target.host}]" if ":" in target.host else target.host
        if entry not in (host, f"{host}:{target.port}"):
            raise ValueError(f"{entry!r} is not a host or host:port")
    return entries


# --- internals --------------------------------------------------------------------------------


def _allowed(host: str, port: int, allow_hosts: Iterable[str]) -> bool:
    name = f"[{host}]" if ":" in host else host
    return name in allow_hosts or f"{name}:{port}" in allow_hosts


def _forbidden(address: Address) -> str | None:
    """What kind of address it is ("a loopback") when a web call may not reach it, else None.

    The flags come before is_global because 3.11's is_global is True for multicast and
    site-local addresses; is_reserved before is_private so 240.0.0.0/4 is named reserved."""
    if address.is_unspecified:
        return "an unspecified"
    if address.is_loopback:
        return "a loopback"
    if address.is_link_local:
        return "a link-local"
    if address.is_multicast:
        return "a multicast"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return None  # judged by its IPv4 address (is_reserved would refuse every one)
    if address.is_reserved:
        return "a reserved"
    if address.is_private:
        return "a private"
    if not address.is_global:
        return "a carrier-grade NAT" if address in _SHARED else "a non-public"
    return None


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    return address.ipv4_mapped or address.sixtofour


def _authority(host: str, port: int, scheme: str) -> str:
    name = f"[{host}]" if ":" in host else host
    return name if port == _DEFAULT_PORTS[scheme] else f"{name}:{port}"
