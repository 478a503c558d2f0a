"""``mailsift suppress …``: lists of addresses and domains never to be mailed.

A list is global (every account's addresses are checked against it) or one account's
(``--account``). Entries are addresses (``ann@example.com``) or whole domains
(``@example.com`` or ``example.com``), one a line in a TXT file or in any cell of a CSV.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mailsift.accounts import service as accounts
from mailsift.accounts.errors import AccountError
from mailsift.cli.common import fail, run_on_store
from mailsift.jobs.suppression import SuppressionError, entry_key, import_file
from mailsift.store import Store
from mailsift.store import suppression as lists

T = TypeVar("T")
AccountOption = Annotated[
    str | None,
    typer.Option("--account", "-a", help="The account the list belongs to (default: global)."),
]


def register(app: typer.Typer) -> None:
    suppress = typer.Typer(
        help="Suppression lists: addresses and domains never to be mailed.", no_args_is_help=True
    )
    suppress.command("import")(import_list)
    suppress.command("list")(show_lists)
    suppress.command("remove")(remove)
    suppress.command("policy")(policy)
    app.add_typer(suppress, name="suppress")


def on_store(action: Callable[[Store], Awaitable[T]]) -> T:
    return run_on_store(action, (AccountError, SuppressionError))


async def _account_id(store: Store, name: str | None) -> int | None:
    return None if name is None else (await accounts.get_account(store, name)).id


def import_list(
    file: Annotated[Path, typer.Argument(help="A CSV or TXT file of addresses and domains.")],
    name: Annotated[str, typer.Option("--name", "-n", help="The list's name.")],
    account: AccountOption = None,
) -> None:
    """Add a file's addresses and domains to a list (created if need be)."""
    if not file.is_file():
        fail(f"{file}: no such file")

    async def action(store: Store) -> tuple[int, int, int, list[str]]:
        report = await import_file(store, file, name, await _account_id(store, account))
        return report.read, report.added, report.rejected, report.skipped

    read, added, rejected, skipped = on_store(action)
    typer.echo(f"{name}: {added:,} new entries of {read:,} lines read.")
    if rejected:
        typer.echo(f"Skipped {rejected:,} line(s) that are neither an address nor a domain, e.g.:")
        for line in skipped:
            typer.echo(f"  {line}")


def show_lists(account: AccountOption = None) -> None:
    """Show the lists (with --account: the global ones and that account's)."""

    async def action(store: Store) -> tuple[list[lists.ListSummary], dict[int, str]]:
        summaries = await lists.list_summaries(store, await _account_id(store, account))
        return summaries, {a.id: a.name for a in await accounts.list_accounts(store)}

    table = Table()
    for column in ("name", "scope", "entries", "changed"):
        table.add_column(column, justify="right" if column == "entries" else "left")
    summaries, owners = on_store(action)
    for summary in summaries:
        scope = "global" if summary.account_id is None else owners.get(summary.account_id, "?")
        table.add_row(
            escape(summary.name),
            escape(scope),
            f"{summary.entries:,}",
            summary.changed_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console(highlight=False).print(table)


def remove(
    name: Annotated[str, typer.Argument(help="The list.")],
    entry: Annotated[
        list[str] | None,
        typer.Option("--entry", "-e", help="An address or domain to remove (repeatable)."),
    ] = None,
    account: AccountOption = None,
) -> None:
    """Remove entries from a list, or, without --entry, the whole list."""
    values = None
    if entry:
        values = [key for key in map(entry_key, entry) if key is not None]
        if len(values) != len(entry):
            fail("every --entry must be an address or a domain")

    async def action(store: Store) -> int | None:
        return await lists.remove_entries(store, name, await _account_id(store, account), values)

    removed = on_store(action)
    if removed is None:
        fail(f"no suppression list {name!r}" + (f" of {account!r}" if account else ""))
    what = "the list" if values is None else "entries"
    typer.echo(f"Removed {what} {name!r} ({removed:,} entries).")


def policy(
    account: Annotated[str, typer.Argument(help="The account.")],
    to_invalid: Annotated[
        bool,
        typer.Option(
            "--to-invalid/--keep-verdict",
            help="Suppressed addresses go to the invalid file, or stay where their verdict "
            "puts them (marked bad_address).",
        ),
    ],
) -> None:
    """Choose where an account's suppressed addresses go in its result files."""

    async def action(store: Store) -> None:
        account_id = await _account_id(store, account)
        assert account_id is not None
        await lists.set_suppressed_to_invalid(store, account_id, to_invalid)

    on_store(action)
    where = "the invalid file" if to_invalid else "the file of their verdict"
    typer.echo(f"{account!r}: suppressed addresses go to {where}.")
