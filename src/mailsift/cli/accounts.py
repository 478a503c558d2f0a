"""``mailsift accounts …``: create accounts, show them, rotate tokens, grant and convert credit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mailsift.accounts import service
from mailsift.accounts.errors import AccountError
from mailsift.cli.common import fail, run_on_store
from mailsift.store import Store
from mailsift.store.models import Account

T = TypeVar("T")


def register(app: typer.Typer) -> None:
    accounts = typer.Typer(
        help="Accounts, their API tokens and their credit.", no_args_is_help=True
    )
    accounts.command("create")(create)
    accounts.command("list")(list_accounts)
    accounts.command("rotate-token")(rotate_token)
    accounts.command("credit")(credit)
    accounts.command("convert")(convert)
    app.add_typer(accounts, name="accounts")


def _run(action: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``action`` on the migrated store, turning every expected failure into a message."""
    return run_on_store(action, (AccountError,))


def _balances(account: Account) -> str:
    return f"{account.api_credits:,} API and {account.monthly_credits:,} monthly credits"


def create(
    name: Annotated[str, typer.Argument(help="A unique name for the account.")],
    api_credits: Annotated[int, typer.Option(min=0, help="Starting API credit.")] = 0,
    monthly_credits: Annotated[int, typer.Option(min=0, help="Starting monthly credit.")] = 0,
) -> None:
    """Create an account; its API token is printed alone on the last line, this once only."""
    account, token = _run(
        lambda store: service.create_account(
            store, name, api_credits=api_credits, monthly_credits=monthly_credits
        )
    )
    typer.echo(f"Created {account.name!r} with {_balances(account)}. Its API token:")
    typer.echo(token)


def list_accounts() -> None:
    """Show every account with its balances (tokens are never shown, only their start)."""
    accounts = _run(service.list_accounts)
    table = Table()
    for column in ("name", "API credits", "monthly credits", "token starts", "created"):
        table.add_column(column, justify="right" if "credits" in column else "left")
    for account in accounts:
        table.add_row(
            escape(account.name),
            f"{account.api_credits:,}",
            f"{account.monthly_credits:,}",
            escape(account.token_hint) + "…",
            account.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    Console(highlight=False).print(table)


def rotate_token(name: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """Replace an account's API token; the old one stops working at once."""
    token = _run(lambda store: service.rotate_token(store, name))
    typer.echo(f"New API token for {name!r} (the old one no longer works):")
    typer.echo(token)


def credit(
    name: Annotated[str, typer.Argument(help="The account.")],
    api: Annotated[int, typer.Option("--api", help="API credit to add (negative: take).")] = 0,
    monthly: Annotated[
        int, typer.Option("--monthly", help="Monthly credit to add (negative: take).")
    ] = 0,
) -> None:
    """Add credit to an account (or take some away, never below zero)."""
    if not api and not monthly:
        fail("say how much: --api N and/or --monthly N")
    account = _run(
        lambda store: service.grant_credits(store, name, api=api, monthly=monthly, note="cli")
    )
    typer.echo(f"{account.name!r} now has {_balances(account)}.")


def convert(
    name: Annotated[str, typer.Argument(help="The account.")],
    amount: Annotated[int, typer.Argument(min=1, help="Monthly credits to turn into API credits.")],
) -> None:
    """Turn monthly credit into API credit."""

    async def action(store: Store) -> Account:
        account = await service.get_account(store, name)
        return await service.convert_credits(store, account.id, amount)

    account = _run(action)
    typer.echo(f"{account.name!r} now has {_balances(account)}.")
