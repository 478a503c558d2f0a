"""Properties of the parsers, over inputs hypothesis draws: the SMTP reply parser, the address
parser and the list sniffer. Each runs a few hundred cases at most (``make test`` stays quick)."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from bench.hardening.file_fuzz import RAW_BYTES, read_whole_file, xlsx_files
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mailsift.jobs.formats.base import IntakeLimits
from mailsift.jobs.intake import sniff_layout
from mailsift.verify.address import ParsedAddress, SyntaxProblem, parse_address
from mailsift.verify.smtp import Reply, ReplyParser, SmtpSyntaxError

QUICK = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- the SMTP reply parser ------------------------------------------------------------------------

CODES = st.integers(200, 599)
LINE_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=60)
REPLIES = st.tuples(CODES, st.lists(LINE_TEXT, min_size=1, max_size=5))


def wire(code: int, lines: list[str]) -> bytes:
    """One reply as a server sends it: ``250-first`` … ``250 last``."""
    out = b""
    for n, line in enumerate(lines):
        sep = " " if n == len(lines) - 1 else "-"
        out += f"{code}{sep}{line}\r\n".encode()
    return out


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


@QUICK
@given(st.lists(REPLIES, min_size=1, max_size=4), st.lists(st.integers(0, 10_000), max_size=8))
def test_replies_come_back_whole_however_the_bytes_are_cut(
    replies: list[tuple[int, list[str]]], cuts: list[int]
) -> None:
    data = b"".join(wire(code, lines) for code, lines in replies)
    parser = ReplyParser()
    got: list[Reply] = []
    for piece in chunked(data, cuts):
        got.extend(parser.feed(piece))
    assert [(r.code, list(r.lines)) for r in got] == [(c, ls) for c, ls in replies]
    assert not parser.has_pending


@QUICK
@given(st.lists(st.binary(max_size=300), max_size=10))
def test_any_bytes_give_replies_or_a_syntax_error_and_the_buffer_stays_bounded(
    pieces: list[bytes],
) -> None:
    parser = ReplyParser(max_line_length=128, max_lines=4)
    failed = False
    for piece in pieces:
        try:
            for reply in parser.feed(piece):
                assert 200 <= reply.code <= 599
                assert 1 <= len(reply.lines) <= 4
        except SmtpSyntaxError:
            failed = True
            break
        assert len(parser._buffer) <= 129  # one line and a CR, never more
    if failed:  # once broken, it stays broken
        with pytest.raises(SmtpSyntaxError):
            parser.feed(b"250 OK\r\n")


@QUICK
@given(REPLIES.filter(lambda reply: reply[0] // 100 in (2, 4, 5)))  # RFC 3463's classes
def test_an_enhanced_code_is_read_only_when_its_class_matches_the_reply(
    reply: tuple[int, list[str]],
) -> None:
    code, lines = reply
    [parsed] = ReplyParser().feed(wire(code, [f"{code // 100}.1.1 {lines[0]}", *lines[1:]]))
    assert parsed.enhanced is not None
    assert parsed.enhanced[0] == code // 100
    other = 5 if code // 100 != 5 else 4
    [mismatched] = ReplyParser().feed(wire(code, [f"{other}.1.1 x"]))
    assert mismatched.enhanced is None


# --- the address parser -----------------------------------------------------------------------

ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-."
LABEL = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=20)
UNICODE_LABEL = st.text(alphabet="abcäöüßéñçøåłžяшκλ日本", min_size=1, max_size=10)
DOMAINS = st.builds(
    lambda labels, top: ".".join([*labels, top]),
    st.lists(LABEL | UNICODE_LABEL, min_size=1, max_size=3),
    st.sampled_from(["com", "de", "test", "COM", "org", "xn--p1ai", "museum"]),
)
LIKELY_ADDRESSES = st.builds(
    lambda local, domain, pad: f"{pad}{local}@{domain}{pad}",
    st.text(alphabet=ATEXT + 'äé"\\ ()<>', min_size=1, max_size=30),
    DOMAINS,
    st.sampled_from(["", " ", "\t", "\n"]),
)
ANY_TEXT = st.text(max_size=80) | LIKELY_ADDRESSES | st.emails()


@settings(QUICK, max_examples=300)
@given(ANY_TEXT)
def test_normalising_twice_changes_nothing(text: str) -> None:
    first = parse_address(text)  # never raises
    if isinstance(first, SyntaxProblem):
        assert first.message
        return
    again = parse_address(first.normalized)
    assert isinstance(again, ParsedAddress), again
    assert again.normalized == first.normalized
    assert again.domain == first.domain == first.domain.lower()
    assert first.domain.isascii()
    assert parse_address(first.normalized.upper()).normalized.split("@")[1] == first.domain


@QUICK
@given(st.emails())
def test_addresses_hypothesis_calls_valid_keep_their_local_part(text: str) -> None:
    parsed = parse_address(text)
    assume(isinstance(parsed, ParsedAddress))  # some RFC-valid forms are refused on purpose
    assert isinstance(parsed, ParsedAddress)
    assert parsed.normalized.rsplit("@", 1)[0] == text.rsplit("@", 1)[0].strip()


# --- the list sniffer -------------------------------------------------------------------------

WORDS = st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=10).filter(str.strip)
EMAILS = st.builds(
    lambda user, n: f"{user}{n}@example.com",
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8),
    st.integers(0, 10_000),
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, int, list[list[str]], bool]:
    width = draw(st.integers(1, 5))
    column = draw(st.integers(0, width - 1))
    rows = []
    for _ in range(draw(st.integers(2, 30))):
        row = [draw(WORDS) for _ in range(width)]
        row[column] = draw(EMAILS)
        rows.append(row)
    header = draw(st.booleans())
    if header:
        names = [f"field{n}" for n in range(width)]
        names[column] = "Email"
        rows.insert(0, names)
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"])) if width > 1 else ""
    return delimiter, column, rows, header


@QUICK
@given(tables())
def test_the_sniffer_finds_the_delimiter_header_and_email_column(
    tmp_path_factory: pytest.TempPathFactory, table: tuple[str, int, list[list[str]], bool]
) -> None:
    delimiter, column, rows, header = table
    path = tmp_path_factory.mktemp("sniff") / "list.csv"
    path.write_text("\n".join(delimiter.join(row) for row in rows) + "\n", encoding="utf-8")
    layout = sniff_layout(path)
    assert layout.delimiter == delimiter
    assert layout.email_column == column
    assert (layout.header is not None) == header
    assert layout.format == ("txt" if not delimiter else "tsv" if delimiter == "\t" else "csv")


# --- the whole intake over drawn files: only its own clear refusals -------------------------

FUZZ = settings(
    max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@FUZZ
@given(RAW_BYTES, st.sampled_from(["list.csv", "list.tsv", "list.txt"]))
def test_any_text_file_is_read_or_refused_clearly(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, name: str
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(data)
    assert read_whole_file(path, name) in ("ok", "refused")


@FUZZ
@given(xlsx_files())
def test_any_workbook_is_read_or_refused_clearly(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "list.xlsx"
    path.write_bytes(data)
    assert read_whole_file(path, path.name) in ("ok", "refused")


def test_limits_are_the_ones_the_fuzz_assumes() -> None:
    """The hostile-file runs lean on these: a change should be a conscious one."""
    limits = IntakeLimits()
    assert limits.max_line_bytes == 64 * 1024
    assert limits.max_xlsx_uncompressed_bytes == 1024**3
    assert Path(__file__).exists()
