"""Hostile uploads through the API, and the server's memory while it refuses them.

Each file is uploaded to ``/batch_process/`` of a live ``mailsift serve`` (SQLite) and must be
refused with a 4xx whose message says what is wrong; the server's peak RSS (its ``VmHWM``)
is read at the end. The files:

- an XLSX ZIP bomb: a sheet part of ``bomb_mb`` MB (100 in the bench) deflated about 300:1;
- billion laughs: a sheet whose DTD nests entities ten deep (10^9 "lol"s);
- a huge ``<dimension>`` (A1:XFD1048576) over a sheet with no address in it, and a sheet whose
  first row reaches column XFD (16,384 columns);
- lying ZIP sizes: a part declaring 100 bytes that inflates to ``bomb_mb`` MB, and parts declaring
  2 GB in all;
- one line of ``line_mb`` MB (200 in the bench), no line break;
- a CSV with NUL bytes in it.
"""

from __future__ import annotations

import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.hardening.file_fuzz import SHEET_NS, sheet, workbook
from bench.hardening.live import Server, clean_env, create_token

_MB = 1024 * 1024
ADDRESS_ROWS = [["email"], ["ann@example.com"], ["bob@example.com"]]


def zip_bomb(megabytes: int) -> Callable[[Path], None]:
    """A sheet of ``megabytes`` MB of one repeated row, deflated about 300 to 1."""

    def write(path: Path) -> None:
        row = '<row><c t="inlineStr"><is><t>x</t></is></c></row>'
        body = row * (megabytes * _MB // len(row))
        xml = f'<worksheet xmlns="{SHEET_NS}"><sheetData>{body}</sheetData></worksheet>'
        path.write_bytes(workbook(xml))

    return write


def billion_laughs(path: Path) -> None:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    ]
    xml = (
        f'<?xml version="1.0"?><!DOCTYPE worksheet [{"".join(entities)}]>'
        f'<worksheet xmlns="{SHEET_NS}"><sheetData><row><c t="inlineStr"><is><t>&lol9;</t>'
        "</is></c></row></sheetData></worksheet>"
    )
    path.write_bytes(workbook(xml))


def huge_dimension(path: Path) -> None:
    """A sheet that claims 16,384 × 1,048,576 cells and holds three without an address."""
    path.write_bytes(workbook(sheet([["name"], ["ann"], ["bob"]], "A1:XFD1048576")))


def widest_row(path: Path) -> None:
    """An address sheet whose first row also has a cell in the last column, XFD."""
    cells = '<c r="A1" t="inlineStr"><is><t>email</t></is></c>'
    cells += '<c r="XFD1" t="inlineStr"><is><t>far</t></is></c>'
    rows = f'<row r="1">{cells}</row>' + "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>u{n}@example.com</t></is></c></row>'
        for n in range(2, 5)
    )
    xml = f'<worksheet xmlns="{SHEET_NS}"><dimension ref="A1:XFD4"/><sheetData>{rows}'
    path.write_bytes(workbook(xml + "</sheetData></worksheet>"))


def _patch_sizes(data: bytes, part: str, size: int) -> bytes:
    """``data`` (a ZIP) with ``part``'s uncompressed size set to ``size`` in both headers."""
    out = bytearray(data)
    name = part.encode()
    at = out.find(b"PK\x03\x04")
    while at != -1:
        name_len = struct.unpack_from("<H", out, at + 26)[0]
        if out[at + 30 : at + 30 + name_len] == name:
            struct.pack_into("<I", out, at + 22, size)
        at = out.find(b"PK\x03\x04", at + 4)
    at = out.find(b"PK\x01\x02")
    while at != -1:
        name_len = struct.unpack_from("<H", out, at + 28)[0]
        if out[at + 46 : at + 46 + name_len] == name:
            struct.pack_into("<I", out, at + 24, size)
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def lying_small_sizes(megabytes: int) -> Callable[[Path], None]:
    """The sheet says it unpacks to 100 bytes; it inflates to ``megabytes`` MB."""

    def write(path: Path) -> None:
        row = '<row><c t="inlineStr"><is><t>ann@example.com</t></is></c></row>'
        xml = f'<worksheet xmlns="{SHEET_NS}"><sheetData>{row * (megabytes * _MB // len(row))}'
        data = workbook(xml + "</sheetData></worksheet>")
        path.write_bytes(_patch_sizes(data, "xl/worksheets/sheet1.xml", 100))

    return write


def lying_large_sizes(path: Path) -> None:
    """Small parts whose headers say they unpack to 2 GB together."""
    data = workbook(sheet(ADDRESS_ROWS), extra={"xl/a.xml": b"<a/>", "xl/b.xml": b"<b/>"})
    for part in ("xl/a.xml", "xl/b.xml"):
        data = _patch_sizes(data, part, 1024 * _MB)
    path.write_bytes(data)


def long_line(megabytes: int) -> Callable[[Path], None]:
    """``megabytes`` million bytes without a line break: 200 stays under the 200 MiB upload
    limit, so that the intake, not the body limit, refuses it."""

    def write(path: Path) -> None:
        block = b"ann@example.com," * (1_000_000 // 16)
        with path.open("wb") as out:
            out.write(b"email,")
            for _ in range(megabytes):
                out.write(block)

    return write


def nul_bytes(path: Path) -> None:
    path.write_bytes(b"email\nann@example.com\nb\x00b@example.com\n" + b"\x00" * 1000)


@dataclass
class Refusal:
    name: str
    bytes: int
    status: int
    message: str
    seconds: float
    server_peak_rss_mb: float  # the server's high-water mark once this file was answered

    @property
    def clear(self) -> bool:
        return 400 <= self.status < 500 and len(self.message) > 10


def hostile_files(line_mb: int, bomb_mb: int) -> list[tuple[str, str, Callable[[Path], None]]]:
    return [
        (f"XLSX zip bomb ({bomb_mb} MB sheet)", "bomb.xlsx", zip_bomb(bomb_mb)),
        ("billion laughs (entities 10 deep)", "laughs.xlsx", billion_laughs),
        ("huge <dimension> A1:XFD1048576, no addresses", "dimension.xlsx", huge_dimension),
        ("a row reaching column XFD", "wide.xlsx", widest_row),
        (f"lying ZIP size: 100 bytes declared, {bomb_mb} MB inflated", "small-lie.xlsx",
         lying_small_sizes(bomb_mb)),
        ("lying ZIP sizes: 2 GB declared", "large-lie.xlsx", lying_large_sizes),
        (f"one {line_mb} MB line", "line.csv", long_line(line_mb)),
        ("NUL bytes in a CSV", "nul.csv", nul_bytes),
    ]  # fmt: skip


def refuse_hostile_files(line_mb: int = 200, bomb_mb: int = 100) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mailsift-hostile-") as tmp:
        folder = Path(tmp)
        data = folder / "data"
        data.mkdir()
        server = Server(clean_env(MAILSIFT_MAX_JOBS_IN_FLIGHT="0"), data, folder / "server.log")
        token = create_token(server.db_url, "hostile", 10**9)
        server.start(workers=False)
        baseline = server.peak_rss_mb()
        refusals = []
        try:
            with httpx.Client(base_url=server.url, timeout=600) as client:
                for name, filename, write in hostile_files(line_mb, bomb_mb):
                    path = folder / filename
                    write(path)
                    started = time.perf_counter()
                    with path.open("rb") as fh:
                        answer = client.post(
                            "/batch_process/",
                            data={"user_API_token": token},
                            files={"file": (filename, fh)},
                        )
                    seconds = time.perf_counter() - started
                    refusals.append(
                        Refusal(
                            name,
                            path.stat().st_size,
                            answer.status_code,
                            str(answer.json().get("message", "")),
                            round(seconds, 2),
                            round(server.peak_rss_mb(), 1),
                        )
                    )
                    path.unlink()
            peak = server.peak_rss_mb()
        finally:
            server.stop()
        tracebacks = server.output().count("Traceback")
    return {
        "refusals": [{**asdict(r), "clear": r.clear} for r in refusals],
        "all_refused_clearly": all(r.clear for r in refusals),
        "server_rss_at_start_mb": round(baseline, 1),
        "server_peak_rss_mb": round(peak, 1),
        "tracebacks_in_server_output": tracebacks,
    }
