"""The DNS a receiving server looks at before it believes a verifier: the HELO name's address
and reverse name, the MAIL FROM domain's MX and SPF, and the egress address on blocklists."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import dns.exception
import dns.resolver
import dns.reversename

from mailsift.doctor.findings import Finding, Status
from mailsift.verify.dns import dnspython_resolver

# A blocklist's answer in 127.255.255.0/24 means "I won't answer you" (an open resolver, too
# many queries), not "listed".
_REFUSED_QUERY = ipaddress.ip_network("127.255.255.0/24")
_LISTED = ipaddress.ip_network("127.0.0.0/8")


class Lookups:
    """A resolver for the checks: the system's, or the configured nameservers."""

    def __init__(self, nameservers: Sequence[tuple[str, int]], timeout: float) -> None:
        self._resolver = dnspython_resolver(nameservers, timeout)

    async def texts(self, name: str, rdtype: str) -> list[str]:
        """The records' text; empty when the name has none of that type (or does not exist)."""
        try:
            answer = await self._resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        return [record.to_text() for record in answer]

    async def exists(self, name: str) -> bool:
        try:
            await self._resolver.resolve(name, "SOA", search=False)
        except dns.resolver.NXDOMAIN:
            return False
        except dns.resolver.NoAnswer:
            return True
        return True

    async def addresses(self, name: str) -> list[str]:
        found: list[str] = []
        for rdtype in ("A", "AAAA"):
            found += await self.texts(name, rdtype)
        return found


async def check_helo_name(lookups: Lookups, helo_name: str, egress_ip: str) -> Finding:
    check = "HELO name and reverse DNS"
    advice = (
        f"Give {helo_name} an A/AAAA record of the egress address and that address a PTR "
        f"record naming {helo_name} (ask whoever owns the address), or set MAILSIFT_HELO_NAME "
        "to the name the egress address's PTR already has."
    )
    try:
        forward = await lookups.addresses(helo_name)
        reverse = [
            name.rstrip(".").lower()
            for name in await lookups.texts(
                dns.reversename.from_address(egress_ip).to_text(), "PTR"
            )
        ]
    except (dns.exception.DNSException, ValueError) as exc:
        return Finding(check, Status.WARN, f"DNS lookups failed: {exc}", advice)
    problems = []
    if egress_ip not in forward:
        shown = ", ".join(forward) or "no address"
        problems.append(f"{helo_name} resolves to {shown}, not the egress address {egress_ip}")
    if helo_name.rstrip(".").lower() not in reverse:
        shown = ", ".join(reverse) or "no PTR record"
        problems.append(f"{egress_ip} has {shown}, not {helo_name}")
    if problems:
        return Finding(check, Status.FAIL, "; ".join(problems), advice)
    return Finding(check, Status.PASS, f"{helo_name} ⇄ {egress_ip}, forward and reverse agree")


async def check_mail_from(lookups: Lookups, sender: str) -> Finding:
    check = "MAIL FROM domain"
    domain = sender.rpartition("@")[2]
    try:
        if not await lookups.exists(domain):
            return Finding(
                check,
                Status.FAIL,
                f"{domain} (of {sender}) does not exist",
                "Set MAILSIFT_MAIL_FROM to an address at a domain you own: servers refuse "
                "senders at domains that do not exist.",
            )
        mail_hosts = await lookups.texts(domain, "MX") or await lookups.addresses(domain)
        spf = [t for t in await lookups.texts(domain, "TXT") if t.strip('"').startswith("v=spf1")]
    except dns.exception.DNSException as exc:
        return Finding(check, Status.WARN, f"DNS lookups for {domain} failed: {exc}")
    if not mail_hosts:
        return Finding(
            check,
            Status.FAIL,
            f"{domain} has no MX and no address: it cannot receive mail",
            f"Give {domain} an MX record: some servers call the sender back before answering.",
        )
    if not spf:
        return Finding(
            check,
            Status.WARN,
            f"{domain} has an MX but no SPF record",
            f'Publish a TXT record "v=spf1 ip4:<egress address> -all" (or include it in the '
            f"existing policy) for {domain}.",
        )
    return Finding(check, Status.PASS, f"{domain} has MX and SPF ({spf[0].strip(chr(34))})")


async def check_blocklists(lookups: Lookups, egress_ip: str, zones: Sequence[str]) -> Finding:
    check = "egress address on blocklists"
    address = ipaddress.ip_address(egress_ip)
    reversed_labels = dns.reversename.from_address(egress_ip).to_text(omit_final_dot=True)
    suffix = ".in-addr.arpa" if address.version == 4 else ".ip6.arpa"
    query_base = reversed_labels.removesuffix(suffix)
    listed: list[str] = []
    unanswered: list[str] = []
    for zone in zones:
        name = f"{query_base}.{zone.strip('.')}"
        try:
            answers = await lookups.texts(name, "A")
        except dns.exception.DNSException as exc:
            unanswered.append(f"{zone} ({type(exc).__name__})")
            continue
        codes = [ipaddress.ip_address(a) for a in answers]
        if any(code in _REFUSED_QUERY for code in codes):
            unanswered.append(f"{zone} (refused the query)")
        elif any(code in _LISTED for code in codes):
            reasons = await _listing_reason(lookups, name)
            listed.append(f"{zone} ({', '.join(map(str, codes))}{reasons})")
    if listed:
        return Finding(
            check,
            Status.FAIL,
            f"{egress_ip} is listed on {'; '.join(listed)}",
            "Servers that use these lists will refuse or defer every probe (results come back "
            "unknown). Request delisting from each list, or verify through a clean address "
            "(MAILSIFT_PROXIES).",
        )
    if unanswered:
        return Finding(
            check,
            Status.WARN,
            f"{egress_ip} not listed where asked; no answer from {', '.join(unanswered)}",
            "Some lists refuse queries from public resolvers: set MAILSIFT_DNS_NAMESERVERS to a "
            "resolver of your own to ask them.",
        )
    return Finding(check, Status.PASS, f"{egress_ip} is on none of {', '.join(zones)}")


async def _listing_reason(lookups: Lookups, name: str) -> str:
    try:
        texts = await lookups.texts(name, "TXT")
    except dns.exception.DNSException:
        return ""
    return f": {texts[0].strip(chr(34))}" if texts else ""
