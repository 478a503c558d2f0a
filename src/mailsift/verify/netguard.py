"""The SSRF guard: a domain's MX (or a callback URL) may point anywhere, including inside."""

from __future__ import annotations

import ipaddress

from mailsift.verify.errors import Stage, TargetRefused


def is_public_address(address: str) -> bool:
    """True when ``address`` is a globally routable unicast IP address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def check_target(address: str, *, allow_private: bool) -> None:
    """Raise ``TargetRefused`` unless we may connect to ``address``."""
    if allow_private:
        try:
            ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError as exc:
            raise TargetRefused(Stage.CONNECT, f"not an IP address: {address!r}") from exc
        return
    if not is_public_address(address):
        raise TargetRefused(
            Stage.CONNECT,
            f"{address} is a private, loopback or reserved address "
            "(set MAILSIFT_ALLOW_PRIVATE_TARGETS=1 to allow)",
        )
