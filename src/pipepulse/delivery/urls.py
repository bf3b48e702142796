"""Where notifications may be sent: URL rules, address checks, and what of a URL may be shown.

A webhook URL is chosen by a tenant and fetched by our scheduler, so it is hostile input:
only ``http``/``https``, and a host that resolves to a public address (a loopback, private or
link-local target would let a tenant probe our own network, or a cloud metadata endpoint),
checked when the channel is created and again at every send, where the connection is then
made to the very address that was checked (no second lookup an attacker could answer
differently). A URL may carry a credential (Slack's path is one), so it is never shown, logged
or put in an error text: only :func:`redact`'s scheme and host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2000
SCHEMES = ("https", "http")
ALLOW_PRIVATE_SETTING = "PIPEPULSE_ALERTS_ALLOW_PRIVATE_URLS=true"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ValueError):
    """The URL may not be used; the message names the reason (never the URL's secret parts)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its parts and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str | None  # None: connect by name (private URLs allowed, nothing to pin)


def parse(url: str) -> SplitResult:
    """The URL's parts, or :class:`UnsafeURL` when it is not an absolute http(s) URL."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise UnsafeURL("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("the URL is not valid (check the host and port)") from None
    if parts.scheme.lower() not in SCHEMES:
        raise UnsafeURL("the URL must start with https:// (or http://)")
    if not parts.hostname:
        raise UnsafeURL("the URL has no host")
    if port == 0:
        raise UnsafeURL("the URL's port must be between 1 and 65535")
    return parts


def redact(url: str) -> str:
    """What may be shown of a URL: scheme, host and port; the rest replaced by ``…``."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "…"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    rest = "/…" if (parts.path not in ("", "/") or parts.query or parts.fragment) else "/"
    return f"{parts.scheme}://{host}{port}{rest}"


_IETF_PROTOCOL = ipaddress.IPv4Network("192.0.0.0/24")
_IETF_GLOBAL = (ipaddress.IPv4Address("192.0.0.9"), ipaddress.IPv4Address("192.0.0.10"))
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 form carries, and the form's name (None when it carries none)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _NAT64:
        return low, "NAT64"
    if address in _IPV4_TRANSLATED:
        return low, "IPv4-translated"
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return low, "IPv4-compatible"
    return None


def non_public_kind(address: Address) -> str | None:
    """Why an address is not on the public internet (None when it is).

    An IPv6 address that embeds an IPv4 one (IPv4-mapped, IPv4-compatible, IPv4-translated,
    NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) is judged by the address it embeds; the
    deprecated IPv4-compatible and IPv4-translated forms are refused whatever they embed.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if embedded is not None:
            inner, form = embedded
            if form in ("IPv4-compatible", "IPv4-translated"):
                return f"an {form} IPv6 address (embedding {inner})"
            kind = non_public_kind(inner)
            return None if kind is None else f"{kind} embedded in a {form} IPv6 address"
        if address.is_site_local:
            return "a site-local address"
    if address.is_multicast:
        return "a multicast address"
    if address in _IETF_PROTOCOL and address not in _IETF_GLOBAL:
        # IANA: not globally reachable (Python before 3.13 deems some of it global).
        return "a reserved address"
    if address.is_unspecified or address.is_reserved:
        return "a reserved address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


async def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeURL(f"the host {host!r} does not resolve") from None
    found: list[Address] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise UnsafeURL(f"the host {host!r} does not resolve")
    return found


async def check(url: str, *, allow_private: bool) -> Target:
    """The URL's target, or :class:`UnsafeURL` when it may not be used."""
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    if allow_private:
        return Target(url, parts.scheme.lower(), host, port, None)
    addresses = await resolve(host, port)
    for address in addresses:
        kind = non_public_kind(address)
        if kind is not None:
            # Any private answer refuses the host: a name with one public and one private
            # address could otherwise be steered to the private one.
            raise UnsafeURL(
                f"the host {host!r} resolves to {address}, {kind}; alert URLs must reach the public "
                f"internet (an operator can set {ALLOW_PRIVATE_SETTING} to allow private ones)"
            )
    return Target(url, parts.scheme.lower(), host, port, str(addresses[0]))
