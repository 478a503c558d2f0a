"""Fuzzing the list readers: any bytes as CSV/TSV/TXT, any XLSX we can build or break.

``read_whole_file`` is the intake's whole path (``sniff_layout`` then every row of
``read_list``); its only allowed failure is ``IntakeError``, the intake's own clear refusal.
The strategies draw delimited tables (some cells quoted, some bytes not text), byte strings
with the marks of real files (BOMs, NULs, stray quotes, CR), and workbooks whose sheet XML,
shared strings or ZIP bytes are drawn or damaged. ``fuzz_files`` runs them all for
``examples`` cases each and reports the outcomes and the process's peak memory.
"""

from __future__ import annotations

import gc
import io
import os
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.hardening.live import vm_kb
from mailsift.jobs.intake import IntakeError, IntakeStats, read_list, sniff_layout

CELL = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12
) | st.sampled_from(["a@b.test", "x.y@mail.example.com", '"q"', "=1+1", "ÄÖÜ@ü.de", ""])
ROW = st.lists(CELL, min_size=1, max_size=6)
DELIMITER = st.sampled_from([",", ";", "\t", "|", ""])
NOISE = st.sampled_from(
    [b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00", b'"', b"\r", b"\r\n", b"\n", b"\x80",
     b"@", b",", b"\t", b"PK\x03\x04", b"<html>", b"\xe9", b"\xed\xa0\x80"]
)  # fmt: skip


@st.composite
def delimited_files(draw: st.DrawFn) -> bytes:
    """A table written with a delimiter, in a drawn encoding, with noise spliced in."""
    delimiter = draw(DELIMITER)
    rows = draw(st.lists(ROW, min_size=1, max_size=30))
    text = "\n".join((delimiter or ",").join(row) for row in rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
    data = bytearray(text.encode(encoding, errors="replace"))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(NOISE)
    return bytes(data)


RAW_BYTES = st.binary(max_size=4096) | delimited_files()

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
    'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
    'worksheet+xml"/></Types>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)
SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def workbook(sheet_xml: str | bytes, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal XLSX whose first sheet is ``sheet_xml``, built by hand (no writer's checks)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sheet(rows: list[list[str]], dimension: str = "") -> str:
    """Sheet XML with inline strings; ``dimension`` is written as given (not checked)."""

    def cell(value: str) -> str:
        escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f'<c t="inlineStr"><is><t>{escaped}</t></is></c>'

    body = "".join(f"<row>{''.join(cell(v) for v in row)}</row>" for row in rows)
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'<worksheet xmlns="{SHEET_NS}">{dim}<sheetData>{body}</sheetData></worksheet>'


XML_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=16)
REF = st.from_regex(r"\A[A-Z]{1,4}[0-9]{1,8}(:[A-Z]{1,4}[0-9]{1,8})?\Z", fullmatch=True)


@st.composite
def xlsx_files(draw: st.DrawFn) -> bytes:
    """A workbook with drawn cells and dimension, maybe with bytes of it damaged."""
    rows = draw(st.lists(st.lists(XML_TEXT | st.just("a@b.test"), max_size=5), max_size=12))
    xml: str | bytes = sheet(rows, draw(st.just("") | REF))
    if draw(st.booleans()):  # damage the XML itself
        raw = bytearray(xml.encode())
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(raw) - 1))
            raw[at] = draw(st.integers(0, 255))
        xml = bytes(raw)
    data = bytearray(workbook(xml))
    if draw(st.integers(0, 3)) == 0:  # damage the ZIP
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        if draw(st.booleans()):
            data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def read_whole_file(path: Path, filename: str) -> str:
    """The intake's whole path over one file: ``"ok"`` or ``"refused"``; anything else raises."""
    try:
        layout = sniff_layout(path, filename=filename)
        stats = IntakeStats()
        for _ in read_list(path, layout, stats):
            pass
    except IntakeError as exc:
        if not exc.message.strip():
            raise AssertionError("an IntakeError without a message") from exc
        return "refused"
    counted = stats.unique + stats.duplicates + stats.blank + stats.syntax_invalid
    assert stats.rows + stats.more_in_cell == counted, stats
    return "ok"


@dataclass
class FuzzRun:
    kind: str
    examples: int
    outcomes: dict[str, int] = field(default_factory=dict)
    crashes: int = 0
    crash: str = ""
    seconds: float = 0.0


def _run(kind: str, strategy: st.SearchStrategy[bytes], suffix: str, examples: int) -> FuzzRun:
    outcomes: Counter[str] = Counter()
    folder = Path(tempfile.mkdtemp(prefix="mailsift-filefuzz-"))
    path = folder / f"list{suffix}"

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def one(data: bytes) -> None:
        path.write_bytes(data)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            outcomes[read_whole_file(path, path.name)] += 1
            gc.collect(1)  # a file left open is reported now (young objects: cheap)
        leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
        if leaks:
            raise AssertionError(f"left a resource open: {leaks[0]}")

    run = FuzzRun(kind, examples)
    started = time.perf_counter()
    try:
        one()
    except Exception as exc:  # reported, with the input hypothesis shrank it to
        run.crashes = 1
        run.crash = f"{type(exc).__name__}: {exc}"[:2000]
    run.seconds = round(time.perf_counter() - started, 1)
    run.outcomes = dict(outcomes)
    path.unlink(missing_ok=True)
    folder.rmdir()
    return run


READERS: dict[str, tuple[Callable[[], st.SearchStrategy[bytes]], str]] = {
    "csv": (lambda: RAW_BYTES, ".csv"),
    "tsv": (lambda: RAW_BYTES, ".tsv"),
    "xlsx": (xlsx_files, ".xlsx"),
}


def fuzz_files(examples: int) -> dict[str, Any]:
    """Every reader, ``examples`` drawn files each; the figures and this process's peak RSS."""
    runs = [_run(kind, make(), suffix, examples) for kind, (make, suffix) in READERS.items()]
    return {
        "examples_per_reader": examples,
        "runs": [run.__dict__ for run in runs],
        "crashes": sum(run.crashes for run in runs),
        "peak_rss_mb": round(vm_kb(os.getpid(), "VmHWM") / 1024, 1),
    }
