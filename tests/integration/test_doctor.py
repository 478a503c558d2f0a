"""``mailsift doctor`` against a loopback DNS server and a loopback mail server that says which
address it saw, as many real ones do in their EHLO answer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailsift.store import open_store, upgrade
from mailsift.store.signing_keys import record_signing_key
from mailsift.store.url import database_url
from tests.mailworld.dns_server import DnsServer, Zone
from tests.unit.test_session import Socks5Relay

HELO = "probe.operator.test"
SENDER = "verify@operator.test"
BLOCKLIST = "bl.operator.test"
SECRET = "k" * 64


@dataclass
class Greeter:
    """A mail server that greets, answers EHLO naming the client's address, and says goodbye."""

    host: str
    port: int = 0
    greeting: bytes = b"220 mx.greeter.test ESMTP\r\n"
    conversations: int = 0

    async def start(self) -> asyncio.Server:
        server = await asyncio.start_server(self._talk, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conversations += 1
        peer = writer.get_extra_info("peername")[0]
        writer.write(self.greeting)
        while line := await reader.readline():
            command = line[:4].upper()
            if command == b"EHLO":
                writer.write(f"250-mx.greeter.test at your service, [{peer}]\r\n".encode())
                writer.write(b"250 PIPELINING\r\n")
            elif command == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"502 not here\r\n")
            await writer.drain()
        writer.close()


def _zone() -> Zone:
    zone = Zone()
    zone.add(HELO, "A", "127.0.0.1")
    zone.add("1.0.0.127.in-addr.arpa", "PTR", f"{HELO}.")
    zone.add("9.0.0.127.in-addr.arpa", "PTR", "host-9.isp.test.")
    zone.add("operator.test", "MX", "10 mx.operator.test.")
    zone.add("operator.test", "TXT", '"v=spf1 ip4:127.0.0.1 -all"')
    zone.add("nospf.test", "MX", "10 mx.nospf.test.")
    zone.add("mx.operator.test", "A", "127.0.0.1")
    zone.add(f"9.0.0.127.{BLOCKLIST}", "A", "127.0.0.2")
    zone.add(f"9.0.0.127.{BLOCKLIST}", "TXT", '"listed: seen sending spam"')
    zone.add(f"1.0.0.127.{BLOCKLIST}.refusing.test", "A", "127.255.255.254")
    return zone


@dataclass
class World:
    dns: DnsServer
    greeter: Greeter
    data_dir: Path

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILSIFT_")}
        env.update(
            MAILSIFT_DATA_DIR=str(self.data_dir),
            MAILSIFT_HELO_NAME=HELO,
            MAILSIFT_MAIL_FROM=SENDER,
            MAILSIFT_DNS_NAMESERVERS=f"{self.dns.host}:{self.dns.port}",
            MAILSIFT_SMTP_PORT=str(self.greeter.port),
            MAILSIFT_DOCTOR_PROBE_HOST=self.greeter.host,
            MAILSIFT_DOCTOR_BLOCKLISTS=BLOCKLIST,
            MAILSIFT_SECRET_KEY=SECRET,
        )
        env.update(overrides)
        return env


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    dns = DnsServer(_zone())
    await dns.start()
    greeter = Greeter("127.0.0.1")
    server = await greeter.start()
    upgrade(database_url("", tmp_path))
    try:
        yield World(dns, greeter, tmp_path)
    finally:
        server.close()
        await server.wait_closed()
        await dns.stop()


async def doctor(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, str]]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mailsift",
        "doctor",
        "--json",
        "--timeout",
        "3",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    assert not err.strip(), err.decode()
    return process.returncode, [json.loads(line) for line in out.decode().splitlines()]


def by_check(findings: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {finding["check"]: finding for finding in findings}


async def test_a_well_set_up_machine_passes_every_check(world: World) -> None:
    code, findings = await doctor(world.env())
    checks = by_check(findings)
    assert code == 0
    assert [f["status"] for f in findings] == ["pass"] * 6, findings
    assert list(checks) == [
        "outbound port 25 (directly)",
        "HELO name and reverse DNS",
        "MAIL FROM domain",
        "egress address on blocklists",
        "database",
        "link-signing key",
    ]
    assert "127.0.0.1" in checks["HELO name and reverse DNS"]["detail"]
    assert world.greeter.conversations == 1


async def test_a_wrong_ptr_and_a_listed_address_fail_with_what_to_do(world: World) -> None:
    code, findings = await doctor(world.env(), "--egress-ip", "127.0.0.9")
    checks = by_check(findings)
    assert code == 1
    helo = checks["HELO name and reverse DNS"]
    assert helo["status"] == "fail"
    assert "host-9.isp.test" in helo["detail"]
    assert "not the egress address 127.0.0.9" in helo["detail"]
    assert "PTR" in helo["advice"]
    listed = checks["egress address on blocklists"]
    assert listed["status"] == "fail"
    assert BLOCKLIST in listed["detail"]
    assert "seen sending spam" in listed["detail"]


async def test_a_blocked_port_25_fails_and_points_at_proxies(world: World) -> None:
    closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    code, findings = await doctor(world.env(MAILSIFT_SMTP_PORT=str(port)))
    checks = by_check(findings)
    assert code == 1
    probe = checks["outbound port 25 (directly)"]
    assert probe["status"] == "fail"
    assert "cannot connect" in probe["detail"]
    assert "MAILSIFT_PROXIES" in probe["advice"]
    # Nothing to learn the egress address from: the HELO check says so instead of guessing.
    assert checks["HELO name and reverse DNS"]["status"] == "warn"
    assert "MAILSIFT_EGRESS_IP" in checks["HELO name and reverse DNS"]["advice"]


async def test_a_refusing_greeting_warns(world: World) -> None:
    world.greeter.greeting = b"554 5.7.1 no verifiers here\r\n"
    _, findings = await doctor(world.env())
    probe = by_check(findings)["outbound port 25 (directly)"]
    assert probe["status"] == "warn"
    assert "554" in probe["detail"]


@pytest.mark.parametrize(
    ("sender", "status", "words"),
    [
        ("verify@missing.test", "fail", "does not exist"),
        ("verify@nospf.test", "warn", "no SPF record"),
    ],
)
async def test_the_mail_from_domain_must_exist_and_should_have_spf(
    world: World, sender: str, status: str, words: str
) -> None:
    _, findings = await doctor(world.env(MAILSIFT_MAIL_FROM=sender))
    check = by_check(findings)["MAIL FROM domain"]
    assert check["status"] == status
    assert words in check["detail"]


async def test_a_blocklist_that_refuses_the_query_is_a_warning_not_a_listing(
    world: World,
) -> None:
    _, findings = await doctor(world.env(MAILSIFT_DOCTOR_BLOCKLISTS=f"{BLOCKLIST}.refusing.test"))
    check = by_check(findings)["egress address on blocklists"]
    assert check["status"] == "warn"
    assert "refused the query" in check["detail"]


async def test_an_unmigrated_database_fails(world: World, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    code, findings = await doctor(world.env(MAILSIFT_DATA_DIR=str(fresh)))
    check = by_check(findings)["database"]
    assert code == 1
    assert check["status"] == "fail"
    assert "mailsift db upgrade" in check["advice"]


async def test_the_readable_report_has_one_line_per_check(world: World) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mailsift",
        "doctor",
        "--egress-ip",
        "127.0.0.9",
        env=world.env(COLUMNS="200"),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    lines = out.decode().splitlines()
    assert process.returncode == 1
    assert sum(line.startswith(("PASS", "WARN", "FAIL")) for line in lines) == 6
    assert any(line.startswith("FAIL  HELO name and reverse DNS") for line in lines)
    assert any(line.strip().startswith("→") for line in lines)


@pytest.mark.postgres
async def test_nodes_signing_with_different_keys_fail(
    world: World, migrated_postgres_url: str
) -> None:
    env = world.env(MAILSIFT_DATABASE_URL=migrated_postgres_url)
    async with open_store(migrated_postgres_url) as store:
        await record_signing_key(store, SECRET.encode(), "node-a:1")
    code, findings = await doctor(env)
    assert code == 0, findings
    assert by_check(findings)["link-signing key"]["status"] == "pass"

    async with open_store(migrated_postgres_url) as store:
        await record_signing_key(store, b"another key of another node, 32+ chars", "node-b:2")
    code, findings = await doctor(env)
    check = by_check(findings)["link-signing key"]
    assert code == 1
    assert check["status"] == "fail"
    assert "node-b:2" in check["detail"]
    assert "MAILSIFT_SECRET_KEY" in check["advice"]

    code, findings = await doctor(
        world.env(MAILSIFT_DATABASE_URL=migrated_postgres_url, MAILSIFT_SECRET_KEY="")
    )
    assert by_check(findings)["link-signing key"]["status"] == "fail"


def closing(
    relay: Socks5Relay,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await relay.handle(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return handle


async def test_port_25_is_tried_through_each_proxy(world: World) -> None:
    good = Socks5Relay(b"probe", b"s3cret")
    good_server = await asyncio.start_server(closing(good), "127.0.0.1", 0)
    bad = Socks5Relay(b"probe", b"other")
    bad_server = await asyncio.start_server(closing(bad), "127.0.0.1", 0)
    ports = [s.sockets[0].getsockname()[1] for s in (good_server, bad_server)]
    proxies = ",".join(f"socks5://probe:s3cret@127.0.0.1:{port}" for port in ports)
    try:
        code, findings = await doctor(world.env(MAILSIFT_PROXIES=proxies))
    finally:
        for server in (good_server, bad_server):
            server.close()
            await server.wait_closed()
    probes = [f for f in findings if f["check"].startswith("outbound port 25")]
    assert [p["check"] for p in probes] == [
        f"outbound port 25 (through socks5://probe:***@127.0.0.1:{port})" for port in ports
    ]
    assert [p["status"] for p in probes] == ["pass", "fail"]
    assert good.requests == [("127.0.0.1", world.greeter.port)]
    assert bad.requests == []  # refused at authentication
    assert code == 1
    assert all("s3cret" not in json.dumps(f) for f in findings)
