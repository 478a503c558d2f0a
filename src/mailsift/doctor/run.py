"""Run every check, in the order a person would fix them."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from mailsift.doctor.dnschecks import Lookups, check_blocklists, check_helo_name, check_mail_from
from mailsift.doctor.findings import Finding, Status
from mailsift.doctor.probe import PortProbe, probe_port_25
from mailsift.doctor.service import check_database, check_signing_key
from mailsift.settings import Settings
from mailsift.store import database_url
from mailsift.verify.dns import parse_nameserver


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    probe_host: str
    blocklists: Sequence[str]
    egress_ip: str = ""  # the public address mail servers see; empty: learnt from the probe
    secret_key: str = ""  # MAILSIFT_SECRET_KEY
    timeout: float = 10.0


async def run_checks(settings: Settings, options: DoctorOptions) -> list[Finding]:
    findings: list[Finding] = []
    routes: list[str | None] = list(settings.proxies) or [None]
    egress: list[str] = [options.egress_ip] if options.egress_ip else []
    for proxy in routes:
        probe = await probe_port_25(
            options.probe_host,
            settings.smtp_port,
            settings.helo_name,
            seconds=options.timeout,
            proxy_url=proxy,
        )
        findings.append(probe.finding)
        if _learnt_egress(options, probe) and probe.egress_ip not in egress:
            egress.append(probe.egress_ip)
    lookups = Lookups([parse_nameserver(n) for n in settings.dns_nameservers], options.timeout)
    if not egress:
        findings.append(
            Finding(
                "HELO name and reverse DNS",
                Status.WARN,
                "the egress address is not known (the probe failed, or this machine is behind "
                "NAT and the probe server did not say what address it saw)",
                "Set MAILSIFT_EGRESS_IP to the public address mail servers see.",
            )
        )
    for address in egress:
        findings.append(await check_helo_name(lookups, settings.helo_name, address))
    findings.append(await check_mail_from(lookups, settings.envelope_sender))
    for address in egress:
        findings.append(await check_blocklists(lookups, address, options.blocklists))
    url = database_url(settings.database_url, settings.data_dir)
    findings.append(check_database(url))
    findings.append(await check_signing_key(settings, url, options.secret_key))
    return findings


def _learnt_egress(options: DoctorOptions, probe: PortProbe) -> bool:
    """Whether the probe tells the public address: the server named it, or our end of the
    socket is public (no NAT in between)."""
    if options.egress_ip or not probe.egress_ip:
        return False
    return probe.egress_seen_by_server or ipaddress.ip_address(probe.egress_ip).is_global
