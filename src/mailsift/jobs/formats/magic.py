"""Telling a list from the files people upload by mistake, by their first bytes."""

from __future__ import annotations

from typing import Literal

from mailsift.jobs.formats.base import IntakeError

Container = Literal["zip", "text"]

_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")

# Formats a list owner may pick by mistake, each with the advice that fixes it.
_WRONG_FORMATS: tuple[tuple[bytes, str], ...] = (
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "This is an old Excel (.xls) or other legacy Office file: save it as .xlsx or CSV.",
    ),
    (b"%PDF-", "This is a PDF document, not a list: upload a CSV, TXT or XLSX file."),
    (b"\x89PNG\r\n\x1a\n", "This is a PNG image, not a list: upload a CSV, TXT or XLSX file."),
    (b"\xff\xd8\xff", "This is a JPEG image, not a list: upload a CSV, TXT or XLSX file."),
    (b"GIF87a", "This is a GIF image, not a list: upload a CSV, TXT or XLSX file."),
    (b"GIF89a", "This is a GIF image, not a list: upload a CSV, TXT or XLSX file."),
    (b"\x1f\x8b", "This is a gzip archive: unpack it and upload the list inside."),
    (b"7z\xbc\xaf\x27\x1c", "This is a 7-Zip archive: unpack it and upload the list inside."),
    (b"Rar!\x1a\x07", "This is a RAR archive: unpack it and upload the list inside."),
    (b"SQLite format 3\x00", "This is an SQLite database, not a list: export it as CSV."),
)


def detect_container(head: bytes) -> Container:
    """``"zip"`` for ZIP-based files (XLSX), ``"text"`` for anything that may be a text list.

    Raises IntakeError for well-known binary formats. Other binary files pass as ``"text"`` and
    are caught by the text scan (NUL bytes, undecodable bytes).
    """
    if head.startswith(_ZIP_SIGNATURES):
        return "zip"
    for signature, advice in _WRONG_FORMATS:
        if head.startswith(signature):
            raise IntakeError(advice)
    return "text"
