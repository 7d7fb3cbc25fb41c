"""The rule for hosts the exchange itself connects to (partners' PACT hosts, events
endpoints): only public addresses, so that nobody can make it post the credentials it
holds to its own neighbours (loopback, private networks, link-local cloud metadata).

One function, :func:`check_public_host`, is applied when a URL is registered and again by
the worker before each connection (a name may resolve elsewhere by then). It classifies
every address the host gives: an IP literal; the numeric shorthands the C resolver and so
the HTTP client accept (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``); every
address a name resolves to, IPv4 and IPv6; and the IPv4 address inside IPv4-mapped,
IPv4-compatible, NAT64, 6to4 and Teredo IPv6 addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Final

from exchange.errors import ValidationFailed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Iterable[str]]

_NAT64: Final = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE: Final = ipaddress.ip_network("::/96")


def resolve(host: str) -> list[str]:
    """Every address ``host`` gives through the system resolver (what a connection uses)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address leads to (mapped, compatible, NAT64, 6to4, Teredo)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in network for network in _NAT64) or (
        address in _IPV4_COMPATIBLE and int(address) > 1
    ):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_public(address: Address) -> bool:
    """Whether ``address`` is on the public internet, and so is every IPv4 it embeds."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_public(address.ipv4_mapped)  # the IPv4 host it reaches, nothing else
    if (
        not address.is_global
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        return all(is_public(inner) for inner in _embedded_ipv4(address))
    return True


def _literal(host: str) -> Address | None:
    """``host`` as an address when it is one, in any form the C library reads as one."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        # inet_aton takes the old shorthand forms: 127.1, 2130706433, 0x7f000001, 0177.1.
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def check_public_host(
    host: str,
    *,
    allow_private: bool,
    must_resolve: bool,
    resolver: Resolver | None = None,
    field: str = "baseUrl",
) -> None:
    """Refuse (ValidationFailed) a host any of whose addresses is not public.

    ``must_resolve``: a name that resolves to nothing is refused too (before connecting);
    at registration it is let through, to be checked at each connection, since a name
    may be registered before its DNS records exist. ``allow_private`` admits everything
    (tests, a partner on the same site).
    """
    if allow_private:
        return
    name = host.strip().rstrip(".").lower()
    if not name:
        raise ValidationFailed(
            "no host", details=[{"field": field, "message": "must name a public host"}]
        )
    literal = _literal(name)
    addresses: set[Address] = {literal} if literal is not None else set()
    try:
        # An IPv6 address may come with its scope ("fe80::1%eth0").
        given = (resolver or resolve)(name)
        addresses |= {ipaddress.ip_address(item.split("%", 1)[0]) for item in given}
    except (OSError, UnicodeError, ValueError) as exc:
        if must_resolve and literal is None:
            raise ValidationFailed(
                f"{host} does not resolve: {exc}",
                details=[{"field": field, "message": "must resolve to a public address"}],
            ) from exc
    refused = sorted(str(address) for address in addresses if not is_public(address))
    if refused:
        raise ValidationFailed(
            f"{host} is not a public address ({', '.join(refused)})",
            details=[{"field": field, "message": "must be a public host"}],
        )
    if must_resolve and not addresses:
        raise ValidationFailed(
            f"{host} does not resolve",
            details=[{"field": field, "message": "must resolve to a public address"}],
        )
