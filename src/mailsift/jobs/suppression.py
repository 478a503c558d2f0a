"""Suppression lists: addresses and domains never to be mailed, and the index that finds them.

An entry is a normalised address (``ann@example.com``: the domain lower-cased and IDNA-encoded,
as everywhere in mailsift, and the local part lower-cased too, since nearly every mail server
ignores its case and a missed complainer costs more than a false match) or a whole domain
(``@example.com``, or ``example.com`` alone), which covers every address of exactly that domain.

``SuppressionIndex`` holds every list in memory (a dictionary: a lookup is a hash or two) and
reloads it when the store says a list changed, at most every ``REFRESH_SECONDS``; every
worker and API process keeps its own.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mailsift.store import suppression as queries
from mailsift.store.engine import Store
from mailsift.verify.address import ParsedAddress, parse_address

REFRESH_SECONDS = 5.0
MAX_ENTRY_CHARS = 320


class SuppressionError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def entry_key(text: str) -> str | None:
    """The entry ``text`` stands for (``None``: neither an address nor a domain)."""
    text = text.strip().strip('"').strip()
    if not text or len(text) > MAX_ENTRY_CHARS:
        return None
    if "@" not in text or text.startswith("@"):
        parsed = parse_address("postmaster@" + text.lstrip("@"))
        return "@" + parsed.domain if isinstance(parsed, ParsedAddress) else None
    parsed = parse_address(text)
    return address_key(parsed.normalized) if isinstance(parsed, ParsedAddress) else None


def address_key(normalized: str) -> str:
    return normalized.lower()


def domain_key(normalized: str) -> str:
    return "@" + normalized.rpartition("@")[2]


@dataclass
class ImportReport:
    read: int = 0
    added: int = 0
    rejected: int = 0  # lines that were neither an address nor a domain
    skipped: list[str] = field(default_factory=list)  # the first few lines that were neither

    MAX_SKIPPED_SHOWN = 5


def read_entries(path: Path, report: ImportReport) -> Iterator[str]:
    """Entries of a CSV or TXT file: in each line, the first cell with an ``@`` (else the
    first cell, as a domain). Lines that are neither (a header, say) are skipped."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as file:
        for line in file:
            if not line.strip():
                continue
            report.read += 1
            cells = _cells(line)
            chosen = next((cell for cell in cells if "@" in cell), cells[0] if cells else "")
            key = entry_key(chosen)
            if key is None:
                report.rejected += 1
                if len(report.skipped) < ImportReport.MAX_SKIPPED_SHOWN:
                    report.skipped.append(line.strip()[:80])
                continue
            yield key


def _cells(line: str) -> list[str]:
    if "," not in line and '"' not in line and ";" not in line and "\t" not in line:
        return [line]
    delimiter = next((d for d in ",;\t" if d in line), ",")
    return next(csv.reader(io.StringIO(line), delimiter=delimiter), [])


async def import_file(store: Store, path: Path, name: str, account_id: int | None) -> ImportReport:
    """Add the entries of ``path`` to the list ``name`` (created if need be)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise SuppressionError("A suppression list needs a name of 1 to 200 characters.")
    report = ImportReport()
    list_id = await queries.find_or_create_list(store, name, account_id)
    entries = await asyncio.to_thread(lambda: list(read_entries(path, report)))
    report.added = await queries.add_entries(store, list_id, entries)
    return report


@dataclass
class _Loaded:
    lists: dict[int, tuple[int | None, str]]
    # value -> the list holding it, or the lists (a tuple) when several do
    entries: dict[str, int | tuple[int, ...]]


class SuppressionIndex:
    """Which list, if any, suppresses an address for an account."""

    @classmethod
    def for_store(cls, store: Store) -> SuppressionIndex:
        """The one index of ``store`` in this process (a million entries take ~100 MB)."""
        index = _SHARED.get(store)
        if index is None:
            index = _SHARED[store] = cls(store)
        return index

    def __init__(self, store: Store, *, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._store = store
        self._refresh_seconds = refresh_seconds
        self._loaded = _Loaded({}, {})
        self._version: tuple[int, datetime | None] | None = None
        self._checked_at = -float("inf")
        self._lock = asyncio.Lock()

    async def current(self) -> SuppressionIndex:
        """The index, reloaded first when a list changed since it was loaded."""
        if time.monotonic() - self._checked_at < self._refresh_seconds:
            return self
        async with self._lock:
            if time.monotonic() - self._checked_at < self._refresh_seconds:
                return self
            version = await queries.lists_version(self._store)
            if version != self._version:
                self._loaded = await _load(self._store)
                self._version = version
            self._checked_at = time.monotonic()
        return self

    def invalidate(self) -> None:
        """Check the store again at the next ``current`` (a list changed in this process)."""
        self._checked_at = -float("inf")

    def lookup(self, account_id: int | None, normalized: str) -> str | None:
        """The name of a list that suppresses this normalised address for this account."""
        if not normalized or not self._loaded.entries:
            return None
        for key in (address_key(normalized), domain_key(normalized)):
            found = self._loaded.entries.get(key)
            if found is None:
                continue
            for list_id in (found,) if isinstance(found, int) else found:
                owner, name = self._loaded.lists[list_id]
                if owner is None or owner == account_id:
                    return name
        return None

    def __len__(self) -> int:
        return len(self._loaded.entries)


_SHARED: weakref.WeakKeyDictionary[Store, SuppressionIndex] = weakref.WeakKeyDictionary()


async def _load(store: Store) -> _Loaded:
    lists = await queries.all_lists(store)
    entries: dict[str, int | tuple[int, ...]] = {}
    async for piece in queries.all_entries(store):
        _merge(entries, piece)
    return _Loaded(lists, entries)


def _merge(entries: dict[str, int | tuple[int, ...]], piece: Iterable[tuple[int, str]]) -> None:
    for list_id, value in piece:
        held = entries.setdefault(value, list_id)
        if held != list_id:
            entries[value] = (*((held,) if isinstance(held, int) else held), list_id)
