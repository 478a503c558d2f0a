"""``mailsift accounts …``: create accounts, show them, rotate tokens, grant and convert credit."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mailsift.accounts import logins, service
from mailsift.accounts.errors import AccountError
from mailsift.api.config import ApiSettings, url_host
from mailsift.cli.common import fail, load, load_settings
from mailsift.store import Store, database_url, open_store, upgrade
from mailsift.store.errors import StoreError
from mailsift.store.models import Account

T = TypeVar("T")


def register(app: typer.Typer) -> None:
    accounts = typer.Typer(
        help="Accounts, their API tokens and their credit.", no_args_is_help=True
    )
    accounts.command("create")(create)
    accounts.command("list")(list_accounts)
    accounts.command("rotate-token")(rotate_token)
    accounts.command("rotate-webhook-secret")(rotate_webhook_secret)
    accounts.command("credit")(credit)
    accounts.command("convert")(convert)
    accounts.command("set-password")(set_password)
    accounts.command("signin-link")(signin_link)
    app.add_typer(accounts, name="accounts")


def _run(action: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``action`` on the migrated store, turning every expected failure into a message."""
    settings = load_settings()
    url = database_url(settings.database_url, settings.data_dir)

    async def main() -> T:
        async with open_store(url) as store:
            return await action(store)

    try:
        upgrade(url)
        return asyncio.run(main())
    except AccountError as exc:
        fail(exc.message)
    except (StoreError, OSError, ValueError) as exc:
        fail(str(exc))


def _balances(account: Account) -> str:
    return f"{account.api_credits:,} API and {account.monthly_credits:,} monthly credits"


def create(
    name: Annotated[
        str, typer.Argument(help="A unique name for the account (an email: it signs in with it).")
    ],
    api_credits: Annotated[int, typer.Option(min=0, help="Starting API credit.")] = 0,
    monthly_credits: Annotated[int, typer.Option(min=0, help="Starting monthly credit.")] = 0,
    email: Annotated[
        str | None, typer.Option(help="The email it signs in to the dashboard with.")
    ] = None,
    password: Annotated[
        bool, typer.Option("--password", help="Ask for a dashboard password (typed twice).")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the dashboard password from stdin.")
    ] = False,
) -> None:
    """Create an account; its API token is printed alone on the last line, this once only.

    With a sign-in email (``--email``, or a NAME that is an email), the account can use the
    dashboard: with the password given, or else through the one-time link printed.
    """
    if email is None and "@" in name:
        email = name
    secret = _password(password, password_stdin) if email else None

    async def action(store: Store) -> tuple[Account, str, str]:
        account, token = await service.create_account(
            store, name, api_credits=api_credits, monthly_credits=monthly_credits
        )
        link = ""
        if email is not None:
            await logins.set_login(store, account.id, email, secret)
            if secret is None:
                link = await logins.new_signin_link(store, account.id)
        return account, token, link

    account, token, link = _run(action)
    typer.echo(f"Created {account.name!r} with {_balances(account)}.")
    typer.echo(f"Callback signing secret: {account.webhook_secret}")
    if email is not None:
        _tell_signin(email, link)
    typer.echo("Its API token:")
    typer.echo(token)


def _password(ask: bool, from_stdin: bool) -> str | None:
    """The password the operator gives, or ``None`` (then a sign-in link is made)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if ask:
        entered: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return entered
    return None


def _tell_signin(email: str, link_token: str) -> None:
    base = dashboard_url()
    if link_token:
        typer.echo(f"Dashboard: {base}/ . To set the password of {email}, open once (2 days):")
        typer.echo(f"  {base}/signin/link/{link_token}")
    else:
        typer.echo(f"Dashboard: {base}/ (signs in as {email}).")


def dashboard_url() -> str:
    """Where users reach this server's dashboard (``MAILSIFT_PUBLIC_URL``, else host:port)."""
    settings, config = load_settings(), load(ApiSettings)
    return config.public_url or f"http://{url_host(settings.host)}:{settings.port}"


async def _account_id(store: Store, who: str) -> int:
    """The account named ``who``, or signing in as ``who``."""
    try:
        return (await service.get_account(store, who)).id
    except AccountError:
        found = await logins.account_by_email(store, who) if "@" in who else None
        if found is None:
            raise
        return found


def set_password(
    account: Annotated[str, typer.Argument(help="The account's name or sign-in email.")],
    email: Annotated[
        str | None, typer.Option(help="Set (or change) the email it signs in with, too.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
) -> None:
    """Set an account's dashboard password; every browser signed in to it is signed out."""
    secret = _password(True, password_stdin)

    async def action(store: Store) -> str:
        account_id = await _account_id(store, account)
        login = await logins.set_login(store, account_id, email, secret)
        return login.email

    address = _run(action)
    typer.echo(f"Password set: {address} signs in at {dashboard_url()}/ (other sessions ended).")


def signin_link(
    account: Annotated[str, typer.Argument(help="The account's name or sign-in email.")],
    email: Annotated[
        str | None, typer.Option(help="The email it will sign in with (if it has none yet).")
    ] = None,
) -> None:
    """Print a one-time link with which the account's owner sets a dashboard password."""

    async def action(store: Store) -> tuple[str, str]:
        account_id = await _account_id(store, account)
        login = await logins.login_of(store, account_id)
        if email is not None or login is None:
            if email is None:
                raise logins.LoginError("This account has no sign-in email yet: add --email.")
            login = await logins.set_login(store, account_id, email, None)
        return login.email, await logins.new_signin_link(store, account_id)

    address, token = _run(action)
    _tell_signin(address, token)


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


def rotate_webhook_secret(name: Annotated[str, typer.Argument(help="The account.")]) -> None:
    """Replace the secret an account's callbacks are signed with; printed alone on the last
    line. Callbacks sent from now on, retries included, carry the new signature."""
    secret = _run(lambda store: service.rotate_webhook_secret(store, name))
    typer.echo(f"New callback signing secret for {name!r} (the old one no longer signs):")
    typer.echo(secret)


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
