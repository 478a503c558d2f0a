"""The address policy every outbound connection goes through: one test per refused class."""

from __future__ import annotations

import pytest

from mailsift.verify.errors import TargetRefused
from mailsift.verify.netguard import check_target, is_public_address, refusal


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("0.0.0.0", "'this network'"),
        ("0.1.2.3", "'this network'"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.254", "benchmarking"),
        ("192.0.2.1", "documentation"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "IPv4-mapped"),
        ("::ffff:93.184.216.34", "IPv4-mapped"),  # even a public one: v4 goes as v4
        ("::127.0.0.1", "IPv4-compatible"),
        ("::", "unspecified"),
        ("64:ff9b::7f00:1", "NAT64"),
        ("64:ff9b:1::1", "local NAT64"),
        ("2002:7f00:1::1", "6to4"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("fc00::1", "unique local"),
        ("fd12:3456:789a::1", "unique local"),
        ("fec0::1", "site-local"),
        ("100::1", "discard-only"),
        ("2001:2::1", "benchmarking"),
        ("2001:10::1", "ORCHID"),
        ("192.0.0.8", "IETF protocol assignments"),
        ("2130706433", "not an IP address"),
        ("0x7f000001", "not an IP address"),
        ("0177.0.0.1", "not an IP address"),
        ("localhost", "not an IP address"),
    ],
)
def test_refused_addresses_name_their_kind(address: str, kind: str) -> None:
    reason = refusal(address)
    assert reason is not None
    assert reason.startswith(kind)
    assert not is_public_address(address)
    with pytest.raises(TargetRefused, match="private, loopback or reserved"):
        check_target(address, allow_private=False)


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450::1"]
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None
    check_target(address, allow_private=False)


def test_allowing_private_targets_still_wants_an_ip_address() -> None:
    check_target("127.0.0.1", allow_private=True)
    with pytest.raises(TargetRefused, match="not an IP address"):
        check_target("localhost", allow_private=True)
