"""Which IP addresses webhooks may be sent to, and the system resolver that finds them.

An address is public when it is globally reachable and so is every IPv4 address it carries. IPv6
spells IPv4 addresses several ways (mapped, translated, NAT64, 6to4, Teredo); Python's
``is_global`` judges those spellings by their IPv6 prefix alone, so without unwrapping them a
loopback or private host passes for a public one (``::127.0.0.1``, ``64:ff9b::127.0.0.1``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address
# Every address an IDNA-encoded host name has now; raises OSError when it has none.
Resolver = Callable[[str], Sequence[IPAddress]]

# IPv6 forms whose packets are delivered to the IPv4 address in their last 32 bits, so that
# address alone decides. (IPv4-mapped addresses are unwrapped by ipaddress itself.)
TRANSLATED = (
    (IPv6Network("::ffff:0:0:0/96"), "IPv4-translated (SIIT)"),
    (IPv6Network("64:ff9b::/96"), "NAT64"),
    (IPv6Network("::/96"), "IPv4-compatible"),
)
# A network's own NAT64 prefix (RFC 8215): where its IPv4 address sits is the operator's choice,
# and it never leaves that network. Python 3.11 counts it as global.
LOCAL_NAT64 = IPv6Network("64:ff9b:1::/48")
# Carrier-grade NAT space (RFC 6598): not global, yet not is_private either.
SHARED = IPv4Network("100.64.0.0/10")


def resolve(host: str) -> list[IPAddress]:
    """Every address the system resolver has for ``host``, in its order of preference."""
    # As bytes, the (already IDNA-encoded) name skips Python's IDNA codec, which raises
    # UnicodeError rather than OSError for a name no resolver could find.
    found = socket.getaddrinfo(host.encode("ascii"), None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(sockaddr[0]) for *_, sockaddr in found))


def refusal(address: IPAddress) -> str:
    """Why ``address`` is not a public destination, or "" when it is."""
    if isinstance(address, IPv6Address) and not (address.is_loopback or address.is_unspecified):
        translated = _translated(address)
        if translated is not None:
            form, ipv4 = translated
            kind = _kind(ipv4)
            return f"{address} is the {form} form of {ipv4}, {kind}" if kind else ""
        for role, ipv4 in _tunnel_ends(address):
            kind = _kind(ipv4)
            if kind:
                return f"{address} carries the {role} {ipv4}, {kind}"
    kind = _kind(address)
    return f"{address} is {kind}" if kind else ""


def _translated(address: IPv6Address) -> tuple[str, IPv4Address] | None:
    if address.ipv4_mapped is not None:
        return "IPv4-mapped", address.ipv4_mapped
    for network, form in TRANSLATED:
        if address in network:
            return form, IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def _tunnel_ends(address: IPv6Address) -> list[tuple[str, IPv4Address]]:
    """The IPv4 addresses a 6to4 or Teredo address's packets are tunnelled through."""
    if address.sixtofour is not None:
        return [("6to4 gateway", address.sixtofour)]
    if address.teredo is not None:
        server, client = address.teredo
        return [("Teredo server", server), ("Teredo client", client)]
    return []


def _kind(address: IPAddress) -> str:
    """What kind of non-public address ``address`` is, or "" for a public one."""
    kinds = (
        ("the unspecified address", address.is_unspecified),
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a site-local address", isinstance(address, IPv6Address) and address.is_site_local),
        ("a local-use NAT64 address", address in LOCAL_NAT64),
        ("a shared (carrier-grade NAT) address", address in SHARED),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("a non-global address", not address.is_global),
    )
    return next((kind for kind, found in kinds if found), "")
