"""The SSRF guard: a domain's MX (or a callback URL) may point anywhere, including inside.

One address policy for every outbound connection mailsift makes: mail servers and callback
receivers alike are connected to by the IP address this policy allowed, never by a name
looked up again (a second lookup is what DNS rebinding answers differently).
"""

from __future__ import annotations

import ipaddress
from typing import Final

from mailsift.verify.errors import Stage, TargetRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Address blocks never connected to, each with the name a refusal gives. Order matters
# only for the name: the first block that holds an address names it.
_V4: Final = tuple(
    (ipaddress.IPv4Network(block), name)
    for block, name in (
        ("0.0.0.0/8", "'this network' (0.0.0.0/8)"),
        ("10.0.0.0/8", "private (10.0.0.0/8)"),
        ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
        ("127.0.0.0/8", "loopback (127.0.0.0/8)"),
        ("169.254.0.0/16", "link-local (169.254.0.0/16)"),
        ("172.16.0.0/12", "private (172.16.0.0/12)"),
        ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.2.0/24", "documentation (192.0.2.0/24)"),
        ("192.88.99.0/24", "6to4 relay anycast (192.88.99.0/24)"),
        ("192.168.0.0/16", "private (192.168.0.0/16)"),
        ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"),
        ("198.51.100.0/24", "documentation (198.51.100.0/24)"),
        ("203.0.113.0/24", "documentation (203.0.113.0/24)"),
        ("224.0.0.0/4", "multicast (224.0.0.0/4)"),
        ("240.0.0.0/4", "reserved (240.0.0.0/4)"),
    )
)
_V6: Final = tuple(
    (ipaddress.IPv6Network(block), name)
    for block, name in (
        ("::/128", "unspecified (::)"),
        ("::1/128", "loopback (::1)"),
        ("::ffff:0:0/96", "IPv4-mapped IPv6 (::ffff:0:0/96)"),
        ("::/96", "IPv4-compatible IPv6 (::/96)"),
        ("64:ff9b::/96", "NAT64 (64:ff9b::/96)"),
        ("64:ff9b:1::/48", "local NAT64 (64:ff9b:1::/48)"),
        ("100::/64", "discard-only (100::/64)"),
        ("2001::/32", "Teredo (2001::/32)"),
        ("2001:2::/48", "benchmarking (2001:2::/48)"),
        ("2001:db8::/32", "documentation (2001:db8::/32)"),
        ("2001:10::/28", "ORCHID (2001:10::/28)"),
        ("2002::/16", "6to4 (2002::/16)"),
        ("fc00::/7", "unique local (fc00::/7)"),
        ("fe80::/10", "link-local (fe80::/10)"),
        ("fec0::/10", "site-local (fec0::/10)"),
        ("ff00::/8", "multicast (ff00::/8)"),
    )
)


def parse_ip(address: str) -> IPAddress | None:
    """``address`` as an IP address (a zone index ``%eth0`` dropped), ``None`` if it is not
    one written in the standard form (dotted decimal, or IPv6 text)."""
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None


def refusal(address: str) -> str | None:
    """Why mailsift will not connect to ``address`` (the kind of address it is), or
    ``None`` when it is a globally routable unicast address."""
    ip = parse_ip(address)
    if ip is None:
        return "not an IP address"
    blocks = _V4 if isinstance(ip, ipaddress.IPv4Address) else _V6
    for network, name in blocks:
        if ip in network:
            return name
    if not ip.is_global:  # a block registered since this list was written
        return "not globally routable"
    return None


def is_public_address(address: str) -> bool:
    """True when ``address`` is a globally routable unicast IP address."""
    return refusal(address) is None


def check_target(address: str, *, allow_private: bool) -> None:
    """Raise ``TargetRefused`` unless we may connect to ``address``."""
    if allow_private:
        if parse_ip(address) is None:
            raise TargetRefused(Stage.CONNECT, f"not an IP address: {address!r}")
        return
    reason = refusal(address)
    if reason is not None:
        raise TargetRefused(
            Stage.CONNECT,
            f"{address} is a private, loopback or reserved address: {reason} "
            "(set MAILSIFT_ALLOW_PRIVATE_TARGETS=1 to allow)",
        )
