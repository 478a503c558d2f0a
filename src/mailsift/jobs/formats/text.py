"""Delimited text lists: encoding detection, a pre-scan of the whole file, bounded line reading.

Encoding rules: a byte-order mark decides (UTF-8, UTF-16, UTF-32). Without one, the file is UTF-8
when every byte of it decodes as UTF-8, else Windows-1252. A file that is valid UTF-8 with accents
up to some line and then stops being UTF-8 mixes encodings and is refused rather than guessed at.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from itertools import chain
from pathlib import Path
from typing import AnyStr, TextIO

from mailsift.jobs.formats.base import IntakeError, IntakeLimits, describe_size

_CHUNK = 1 << 20
_LINE_BLOCK = 1 << 18  # characters

# Order matters: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Most bytes one decoded character can take in the file, per encoding.
_WIDEST_CHAR = {"utf-8": 4, "utf-8-sig": 4, "utf-16": 4, "utf-32": 4}
_DISPLAY_NAMES = {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}
_MEASURE_CODECS = {"utf-8-sig": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}
# Bytes per element of a decoded str for the encodings whose lines are measured after decoding.
_TEXT_UNIT = {"utf-16": 2, "utf-32": 4}


@dataclass(frozen=True, slots=True)
class TextScan:
    """What one pass over the raw file learned."""

    encoding: str
    lines: int  # physical lines: an upper bound on records
    has_quotes: bool  # a '"' anywhere: records may span lines
    blank: bool  # nothing but whitespace


class _Undecodable(Exception):
    def __init__(self, line: int, saw_non_ascii: bool) -> None:
        super().__init__(line)
        self.line = line
        self.saw_non_ascii = saw_non_ascii


def display_name(encoding: str) -> str:
    """An encoding's name as people know it."""
    return _DISPLAY_NAMES.get(encoding, encoding.upper())


def bom_encoding(head: bytes) -> str | None:
    """The encoding a leading byte-order mark announces, or None."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    return None


def scan_text(path: Path, limits: IntakeLimits) -> TextScan:
    """Decode the whole file once, chunk by chunk, and check what can be checked up front."""
    with path.open("rb") as fh:
        announced = bom_encoding(fh.read(4))
    try:
        return _scan(path, announced or "utf-8", limits)
    except _Undecodable as exc:
        if announced is not None:
            name = display_name(announced)
            raise IntakeError(
                f"The file announces {name} (byte-order mark) but line {exc.line} has bytes "
                f"that are not valid {name}: save it again as UTF-8."
            ) from None
        if exc.saw_non_ascii:
            raise IntakeError(
                f"The file mixes text encodings: it reads as UTF-8 until line {exc.line}, "
                "which is not UTF-8. Save it again as UTF-8."
            ) from None
    try:
        return _scan(path, "cp1252", limits)
    except _Undecodable as exc:
        raise IntakeError(
            f"Line {exc.line} has bytes that are neither UTF-8 nor Windows-1252 text: "
            "save the file as UTF-8."
        ) from None


def _scan(path: Path, encoding: str, limits: IntakeLimits) -> TextScan:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    meter = _LineMeter(limits.max_line_bytes)
    saw_non_ascii = has_quotes = False
    blank = True
    with path.open("rb") as fh:
        for raw in iter(partial(fh.read, _CHUNK), b""):
            try:
                text = decoder.decode(raw)
            except UnicodeDecodeError as exc:
                valid = exc.object[: exc.start]  # what this decoder call was given, BOM gone
                line = meter.lines + _count_breaks(valid) + 1
                raise _Undecodable(line, saw_non_ascii or not valid.isascii()) from None
            if "\x00" in text:
                raise IntakeError(_binary_problem(raw))
            saw_non_ascii = saw_non_ascii or not text.isascii()
            has_quotes = has_quotes or '"' in text
            blank = blank and not text.strip()
            if encoding in _TEXT_UNIT:
                meter.feed(text, _TEXT_UNIT[encoding])
            else:
                meter.feed(raw, 1)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _Undecodable(meter.lines + 1, saw_non_ascii) from None
    return TextScan(encoding, meter.lines + 1, has_quotes, blank)


def _count_breaks(piece: bytes) -> int:
    """Line breaks in ``piece``: LF, CR and CRLF each count once."""
    return piece.count(b"\n") + piece.count(b"\r") - piece.count(b"\r\n")


def _binary_problem(raw: bytes) -> str:
    """Why a file with NUL bytes is refused (UTF-16 without its mark has one every other byte)."""
    even, odd = raw[0::2].count(0), raw[1::2].count(0)
    if min(even, odd) == 0 and max(even, odd) > len(raw) // 4:
        return (
            "The file looks like UTF-16 text without a byte-order mark: "
            "save it again as UTF-8 (or as UTF-16 with a byte-order mark)."
        )
    return "The file contains NUL bytes: it is a binary file, not a text list."


class _LineMeter:
    """Counts lines and refuses one longer than the limit, fed the file piece by piece."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines = 0  # line breaks seen so far
        self._open = 0  # length of the line still open at the end of the last piece
        self._ended_cr = False  # the last piece ended with CR: a leading LF completes a CRLF

    def feed(self, piece: AnyStr, unit: int) -> None:
        """``unit``: bytes per element of ``piece`` (1 for raw bytes, 2 or 4 for UTF-16/32 text)."""
        if not piece:
            return
        if isinstance(piece, bytes):
            lf_first, cr_last = piece.startswith(b"\n"), piece.endswith(b"\r")
            parts = piece.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        else:
            lf_first, cr_last = piece.startswith("\n"), piece.endswith("\r")
            parts = piece.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        lengths = [len(part) for part in parts]
        if self._ended_cr and lf_first:
            del lengths[0]  # the LF of a CRLF cut in two: no new line
        self._ended_cr = cr_last
        lengths[0] += self._open
        if max(lengths) * unit > self.limit:
            first_long = next(i for i, n in enumerate(lengths) if n * unit > self.limit)
            raise line_too_long(self.lines + first_long + 1, self.limit)
        self.lines += len(lengths) - 1
        self._open = lengths[-1]


def line_too_long(line_no: int, limit: int) -> IntakeError:
    return IntakeError(
        f"Line {line_no} is longer than {describe_size(limit)}: the file is not a list of "
        "addresses, or its lines are not separated."
    )


def iter_lines(fh: TextIO, encoding: str, limits: IntakeLimits) -> Iterator[str]:
    """The physical lines of ``fh`` (line ends kept), refusing an overlong or undecodable one.

    Lines are cut from blocks of text, so that a caller iterating them (the csv module) runs at
    C speed; no more than a block and one line is ever held.
    """
    check = _LineCheck(encoding, limits.max_line_bytes)
    return chain.from_iterable(_line_blocks(fh, encoding, check))


def _line_blocks(fh: TextIO, encoding: str, check: _LineCheck) -> Iterator[list[str]]:
    rest = ""  # the unfinished line at the end of the previous block
    while block := _read_text(fh, encoding):
        text = rest + block
        # Cut after the last line end; a CR at the very end may be half of a CRLF.
        end = len(text) - 1 if text.endswith("\r") else len(text)
        cut = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
        lines = io.StringIO(text[:cut], newline="").readlines() if cut else []
        check.lines(lines)
        rest = text[cut:]
        check.unfinished(rest)
        yield lines
    if rest:
        yield [rest]


def _read_text(fh: TextIO, encoding: str) -> str:
    try:
        return fh.read(_LINE_BLOCK)
    except UnicodeDecodeError:  # decoded ahead in blocks: the line number would be a guess
        raise IntakeError(
            f"The file has bytes that are not valid {display_name(encoding)} text: "
            "save it as UTF-8."
        ) from None


class _LineCheck:
    """Refuses a line longer than the limit in bytes, counting lines as they go by."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.widest = _WIDEST_CHAR.get(encoding, 1)  # the most bytes a character can take
        self.measure = _MEASURE_CODECS.get(encoding, encoding)
        self.seen = 0

    def lines(self, lines: list[str]) -> None:
        if lines and max(map(len, lines)) * self.widest > self.limit:
            for n, line in enumerate(lines, self.seen + 1):
                self._check(line, n)
        self.seen += len(lines)

    def unfinished(self, line: str) -> None:
        if len(line) * self.widest > self.limit:
            self._check(line, self.seen + 1)

    def _check(self, line: str, line_no: int) -> None:
        content = line.rstrip("\r\n")
        if len(content) > self.limit or len(content.encode(self.measure)) > self.limit:
            raise line_too_long(line_no, self.limit)


def open_text(path: Path, encoding: str) -> TextIO:
    """The file as text, line ends untranslated so that the csv module sees them."""
    return path.open(encoding=encoding, errors="strict", newline="")


def iter_records(lines: Iterator[str], delimiter: str) -> Iterator[list[str]]:
    """Records from physical lines: CSV with Excel quoting, or (no delimiter) one value a line."""
    if not delimiter:
        for line in lines:
            yield [line.rstrip("\r\n")]
        return
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        yield from reader
    except csv.Error as exc:
        raise IntakeError(_csv_problem(reader.line_num, exc)) from None


def _csv_problem(line_num: int, exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return (
            f"Near line {line_num} a cell grows beyond {describe_size(csv.field_size_limit())}: "
            'most likely a quote (") that is never closed.'
        )
    return f"Line {line_num} cannot be read as CSV ({exc})."


def read_sample(
    path: Path, encoding: str, limits: IntakeLimits, max_lines: int
) -> tuple[list[str], bool]:
    """Up to ``max_lines`` first lines, and whether they are the whole file."""
    sample: list[str] = []
    with open_text(path, encoding) as fh:
        for line in iter_lines(fh, encoding, limits):
            if len(sample) == max_lines:
                return sample, False
            sample.append(line)
    return sample, True
