"""Suppression lists in the store (SQLite and PostgreSQL) and the index built from them."""

from __future__ import annotations

from pathlib import Path

from mailsift.accounts.service import create_account
from mailsift.jobs.suppression import SuppressionIndex, entry_key, import_file
from mailsift.store import Store
from mailsift.store import suppression as lists


def test_entries_are_normalised_addresses_or_whole_domains() -> None:
    assert entry_key(" Ann@EXAMPLE.com ") == "ann@example.com"
    assert entry_key('"bob@Example.org"') == "bob@example.org"
    assert entry_key("@Example.NET") == "@example.net"
    assert entry_key("münchen.de") == "@xn--mnchen-3ya.de"
    assert entry_key("email") is None  # a header: no dot, no domain
    assert entry_key("not an address@") is None
    assert entry_key("") is None


async def test_import_twice_keeps_one_of_each_and_lookups_follow_owners(
    store: Store, tmp_path: Path
) -> None:
    acme, _ = await create_account(store, "acme")
    other, _ = await create_account(store, "other")
    listing = tmp_path / "list.csv"
    listing.write_text(
        "email;note\nann@example.com;complaint\n@traps.test;feed\nANN@example.com;x\n"
    )
    first = await import_file(store, listing, "complaints", acme.id)
    again = await import_file(store, listing, "complaints", acme.id)
    assert (first.read, first.added, first.rejected) == (4, 2, 1)
    assert again.added == 0
    await import_file(store, listing, "global traps", None)

    index = SuppressionIndex(store, refresh_seconds=0)
    await index.current()
    assert index.lookup(acme.id, "Ann@example.com") == "complaints"
    assert index.lookup(acme.id, "anyone@traps.test") == "complaints"
    assert index.lookup(other.id, "ann@example.com") == "global traps"
    assert index.lookup(other.id, "ann@sub.traps.test") is None  # exactly that domain
    assert index.lookup(other.id, "bob@example.com") is None

    assert await lists.remove_entries(store, "global traps", None) == 2
    assert await lists.remove_entries(store, "complaints", acme.id, ["ann@example.com"]) == 1
    assert await lists.remove_entries(store, "complaints", other.id) is None
    await index.current()
    assert index.lookup(other.id, "ann@example.com") is None
    assert index.lookup(acme.id, "ann@example.com") is None
    assert index.lookup(acme.id, "x@traps.test") == "complaints"
    summaries = await lists.list_summaries(store, acme.id)
    assert [(s.name, s.account_id, s.entries) for s in summaries] == [("complaints", acme.id, 1)]


async def test_the_account_option_defaults_to_keeping_the_verdict(store: Store) -> None:
    acme, _ = await create_account(store, "acme")
    assert not await lists.suppressed_to_invalid(store, acme.id)
    await lists.set_suppressed_to_invalid(store, acme.id, True)
    assert await lists.suppressed_to_invalid(store, acme.id)
    await lists.set_suppressed_to_invalid(store, acme.id, False)
    assert not await lists.suppressed_to_invalid(store, acme.id)
    assert not await lists.suppressed_to_invalid(store, None)
