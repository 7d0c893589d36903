"""Which addresses count as local/private, and name resolution for the proxy.

The proxy refuses local/private targets (spec 7.2 step 3) so that a sandboxed
command cannot use it to reach the host's own services, the LAN or a cloud
metadata endpoint. A string check on the host is not enough: any name can
resolve to ``127.0.0.1`` (DNS rebinding, wildcard DNS services). So names are
resolved once, *every* resolved address is classified, and the proxy then
connects only to those checked addresses, never resolving the name again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "DNS_TIMEOUT",
    "IPAddress",
    "Resolution",
    "Resolver",
    "is_non_public_address",
    "parse_ip_literal",
    "resolve",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``async (host, port) -> IP address strings``. Injectable so tests (and
callers with their own DNS) decide what a name resolves to."""

DNS_TIMEOUT = 2.0
"""Seconds a lookup may take before the name counts as unresolvable (the
reference uses the same bound)."""

_NON_PUBLIC_V4 = tuple(ipaddress.IPv4Network(net) for net in (
    "0.0.0.0/8",  # "this network", includes the unspecified address
    "10.0.0.0/8",  # RFC 1918
    "100.64.0.0/10",  # CGNAT (RFC 6598)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local (cloud metadata lives here)
    "172.16.0.0/12",  # RFC 1918
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # TEST-NET-1
    "192.168.0.0/16",  # RFC 1918
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # TEST-NET-2
    "203.0.113.0/24",  # TEST-NET-3
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, includes broadcast 255.255.255.255
))

_NON_PUBLIC_V6 = tuple(ipaddress.IPv6Network(net) for net in (
    "::/128",  # unspecified
    "::1/128",  # loopback
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
    "fec0::/10",  # deprecated site-local: never public
    "ff00::/8",  # multicast
))

_V6_LOOPBACK = ipaddress.IPv6Address("::1")

# IPv6 forms that carry an IPv4 address a packet may end up at: v4-mapped
# (::ffff:a.b.c.d), v4-compatible (::a.b.c.d) and the NAT64 well-known prefix
# (64:ff9b::a.b.c.d, translated to IPv4 by a NAT64 gateway).
_EMBEDDED_V4 = tuple(ipaddress.IPv6Network(net) for net in (
    "::ffff:0:0/96", "::/96", "64:ff9b::/96",
))


def is_non_public_address(address: IPAddress | str) -> bool:
    """Whether ``address`` is loopback, private, link-local, CGNAT, reserved,
    documentation, benchmarking, multicast, broadcast or unspecified, looking
    through IPv6 forms that embed an IPv4 address. A string that is not an IP
    address counts as non-public (fail closed)."""
    if isinstance(address, str):
        parsed = parse_ip_literal(address)
        if parsed is None:
            return True
        address = parsed
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            address = ipaddress.IPv6Address(address.packed)
        if any(address in net for net in _EMBEDDED_V4):
            if address == _V6_LOOPBACK:  # ::1 is loopback, not "0.0.0.1"
                return True
            return is_non_public_address(ipaddress.IPv4Address(address.packed[12:]))
        return any(address in net for net in _NON_PUBLIC_V6)
    return any(address in net for net in _NON_PUBLIC_V4)


def parse_ip_literal(host: str) -> IPAddress | None:
    """``host`` (already normalised: no brackets, zone as ``%zone``) as an IP
    address, or ``None`` for a name. Only strict dotted-quad IPv4 counts: forms
    like ``127.1`` or ``0x7f.1`` are names here, and resolving them yields the
    address the C library would use, which is then checked like any other."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the system resolver (``getaddrinfo``, so ``/etc/hosts``
    and NSS apply as for any other program on the host)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a host resolved to. ``addresses`` are canonical IP strings in
    resolver order without duplicates; empty when resolution failed, with the
    reason in ``error``."""

    addresses: tuple[str, ...]
    error: str | None = None

    @property
    def non_public(self) -> bool:
        """Whether ANY address is non-public: one private answer among public
        ones is enough to refuse, since the connection could land on it."""
        return any(is_non_public_address(a) for a in self.addresses)


async def resolve(
    host: str,
    port: int,
    *,
    resolver: Resolver | None = None,
    timeout: float = DNS_TIMEOUT,
) -> Resolution:
    """Resolve ``host`` once. IP literals are returned as they are without a
    lookup. Never raises for lookup problems: failures, time-outs, empty
    answers and answers that are not IP addresses come back as an empty
    :class:`Resolution` with ``error`` set, for the caller to fail closed."""
    literal = parse_ip_literal(host)
    if literal is not None:
        return Resolution((str(literal),))
    lookup = resolver or system_resolver
    try:
        async with asyncio.timeout(timeout):
            answers = await lookup(host, port)
    except TimeoutError:
        return Resolution((), f"lookup of {host} timed out after {timeout:g}s")
    except (OSError, UnicodeError, ValueError) as exc:
        return Resolution((), f"lookup of {host} failed: {exc}")
    seen: dict[str, None] = {}
    for answer in answers:
        parsed = parse_ip_literal(str(answer))
        if parsed is None:
            return Resolution((), f"lookup of {host} returned a non-address: {answer!r}")
        seen.setdefault(str(parsed), None)
    if not seen:
        return Resolution((), f"lookup of {host} returned no addresses")
    return Resolution(tuple(seen))
