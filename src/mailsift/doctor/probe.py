"""Outbound port 25: connect to a mail server (directly or through a SOCKS5 proxy), read its
greeting, say EHLO, learn the egress address it saw, and say QUIT. No MAIL, no RCPT."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass

from python_socks import ProxyError
from python_socks.async_.asyncio import Proxy

from mailsift.doctor.findings import Finding, Status

_CHECK = "outbound port 25"
_MAX_REPLY_LINES = 64
# Many servers name the client's address in their EHLO answer: "... at your service, [192.0.2.7]".
_BRACKETED_ADDRESS = re.compile(r"\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]")


@dataclass(frozen=True, slots=True)
class PortProbe:
    finding: Finding
    egress_ip: str = ""  # the address the server saw (or this end of the socket), if connected
    egress_seen_by_server: bool = False


@dataclass(frozen=True, slots=True)
class _Reply:
    code: int
    lines: list[str]

    @property
    def text(self) -> str:
        return " / ".join(self.lines)


async def probe_port_25(
    host: str, port: int, helo_name: str, *, seconds: float, proxy_url: str | None = None
) -> PortProbe:
    route = f"through {_hide_password(proxy_url)}" if proxy_url else "directly"
    check = f"{_CHECK} ({route})"
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await _connect(host, port, proxy_url)
            try:
                return await _converse(check, host, port, helo_name, reader, writer)
            finally:
                writer.close()
    except TimeoutError:
        return PortProbe(
            Finding(
                check,
                Status.FAIL,
                f"no answer from {host}:{port} within {seconds:g}s",
                _BLOCKED_ADVICE,
            )
        )
    except (OSError, ProxyError, ValueError) as exc:
        return PortProbe(
            Finding(
                check,
                Status.FAIL,
                f"cannot connect to {host}:{port}: {exc or type(exc).__name__}",
                _BLOCKED_ADVICE,
            )
        )


_BLOCKED_ADVICE = (
    "Outbound port 25 looks blocked: many clouds and ISPs block it. Ask the provider to open it, "
    "or set MAILSIFT_PROXIES to SOCKS5 proxies that may connect to port 25."
)


async def _connect(
    host: str, port: int, proxy_url: str | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if proxy_url is None:
        return await asyncio.open_connection(host, port)
    sock = await Proxy.from_url(proxy_url).connect(dest_host=host, dest_port=port)
    try:
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise


async def _converse(
    check: str,
    host: str,
    port: int,
    helo_name: str,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> PortProbe:
    local_ip = str(writer.get_extra_info("sockname")[0])
    greeting = await _read_reply(reader)
    if greeting.code != 220:
        return PortProbe(
            Finding(
                check,
                Status.WARN,
                f"{host}:{port} answered {greeting.code} {greeting.text} instead of a greeting",
                "The port is open but this server refused to talk: try another "
                "MAILSIFT_DOCTOR_PROBE_HOST, and check the egress address's blocklist status.",
            ),
            local_ip,
        )
    writer.write(f"EHLO {helo_name}\r\n".encode("ascii", "replace"))
    await writer.drain()
    ehlo = await _read_reply(reader)
    writer.write(b"QUIT\r\n")
    await writer.drain()
    seen = _address_named(ehlo.lines)
    detail = f"connected to {host}:{port}, greeted with 220, EHLO answered {ehlo.code}"
    if ehlo.code != 250:
        return PortProbe(
            Finding(
                check,
                Status.WARN,
                f"{detail}: {ehlo.text}",
                "The server did not take our EHLO: check MAILSIFT_HELO_NAME.",
            ),
            seen or local_ip,
            seen is not None,
        )
    return PortProbe(Finding(check, Status.PASS, detail), seen or local_ip, seen is not None)


async def _read_reply(reader: asyncio.StreamReader) -> _Reply:
    lines: list[str] = []
    for _ in range(_MAX_REPLY_LINES):
        raw = await reader.readline()
        if not raw:
            raise ConnectionResetError("the server closed the connection")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            raise ValueError(f"not an SMTP reply: {line[:80]!r}")
        lines.append(line[4:])
        if line[3:4] != "-":
            return _Reply(int(line[:3]), lines)
    raise ValueError("an SMTP reply of too many lines")


def _address_named(lines: list[str]) -> str | None:
    for line in lines:
        for candidate in _BRACKETED_ADDRESS.findall(line):
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                continue
    return None


def _hide_password(url: str | None) -> str:
    return re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", url or "")
