"""The addresses in one cell, as people write them in mail clients, CRMs and spreadsheets.

``cell_addresses`` takes a cell's text and returns the address candidates in it, in order:

- ``Display Name <addr>``, ``"Quoted, Name" <addr>``, ``<addr>``: the part in angle brackets;
- ``addr (Name)``: the address before a trailing comment;
- ``mailto:addr?subject=...``: the address, percent-decoded, its query dropped;
- surrounding quotes, whitespace, a trailing ``;`` or ``,``, a trailing dot after the domain
  (``a@example.com.``, as at the end of a sentence): dropped;
- several addresses separated by ``,``, ``;`` or `` ::: `` (how Google Contacts joins them)
  outside quotes, brackets and comments: each one.
  Pieces without an ``@`` beside a bracketed address are parts of a display name
  (``Doe, John <john@example.com>``) and are dropped; beside a bare one
  (``finn,thomas@example.com``) they are part of what was written, and the whole cell is the
  one candidate (an invalid address).

A candidate is not checked here: the verifier's parser decides whether it is an address. A cell
with no candidate at all (``,``, ``;;``, ``""``) is blank. A cell that looks like no address keeps
its whole text as the one candidate, so that it is reported as invalid as it was written.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["BARE_ADDRESS", "cell_addresses", "is_blank_cell"]

# A cell that is already a bare address (or has nothing to take away): most cells are.
BARE_ADDRESS = re.compile(r"[^\s<>()\"';,:]+@[^\s<>()\"';,:@]*[^\s<>()\"';,:@.]")
_MAILTO = re.compile(r"mailto:([^?\s<>\"']*)(?:\?[^\s<>\"']*)?", re.IGNORECASE)
_TRAILING_COMMENT = re.compile(r"(.*?)\s*\([^()]*\)")
_SEPARATORS = ",;"
_FILLER = " \t\r\n|\"'"  # what remains of an empty row read with the wrong delimiter
_QUOTES = ('"', "'")
_SPACE = " \t\r\n|"


def is_blank_cell(text: str) -> bool:
    """True for a cell with nothing in it but whitespace, separators and quotes."""
    return not text.strip(_FILLER + _SEPARATORS)


def cell_addresses(text: str) -> list[str]:
    """The address candidates in ``text``, in order; ``[]`` when the cell is blank."""
    text = text.strip()
    if BARE_ADDRESS.fullmatch(text):
        return [text]
    if is_blank_cell(text):
        return []
    if ":::" in text:
        text = text.replace(":::", ";")
    if "mailto:" in text.lower():
        text = _MAILTO.sub(lambda match: unquote(match.group(1)), text)
    cut = [(piece, cleaned) for piece in _split(text) if (cleaned := _clean(piece))]
    pieces = [cleaned for _, cleaned in cut]
    with_at = [cleaned for _, cleaned in cut if "@" in cleaned]
    if not with_at:
        return [text] if pieces else []
    named = any("<" in raw for raw, cleaned in cut if "@" in cleaned)
    if len(with_at) < len(pieces) and not named:
        # ``finn,thomas@example.com``: no display name around a bracketed address, so the
        # piece without an ``@`` is part of the address as written, which is then invalid;
        # verifying ``thomas@example.com`` would ask about somebody else.
        return [text]
    return with_at


def _split(text: str) -> list[str]:
    """``text`` cut at the separators that stand outside quotes, brackets and comments."""
    if not any(separator in text for separator in _SEPARATORS):
        return [text]
    pieces: list[str] = []
    start = depth_angle = depth_comment = 0
    quoted = False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == "<":
            depth_angle += 1
        elif char == ">":
            depth_angle = max(0, depth_angle - 1)
        elif char == "(":
            depth_comment += 1
        elif char == ")":
            depth_comment = max(0, depth_comment - 1)
        elif char in _SEPARATORS and not depth_angle and not depth_comment:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    return pieces


def _clean(piece: str) -> str:
    """One piece reduced to its address candidate ("" when nothing is left)."""
    piece = piece.strip()
    if piece.endswith(">") and "<" in piece:
        piece = piece[piece.rindex("<") + 1 : -1].strip()
    elif piece.endswith(")"):
        comment = _TRAILING_COMMENT.fullmatch(piece)
        if comment and "@" in comment.group(1):
            piece = comment.group(1)
    piece = _unquoted(piece.strip(_SPACE))
    if piece.startswith("<") and piece.endswith(">"):
        piece = piece[1:-1].strip()
    if "@" in piece and piece.endswith("."):
        piece = piece.rstrip(".")
    return "" if is_blank_cell(piece) else piece


def _unquoted(piece: str) -> str:
    """``piece`` without quotes that wrap all of it."""
    while len(piece) >= 2 and piece[0] == piece[-1] and piece[0] in _QUOTES:
        piece = piece[1:-1].strip()
    return piece
