"""Pieces every command shares: settings with a readable error, and one-line failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.console import Console

from mailsift.settings import Settings

if TYPE_CHECKING:
    from mailsift.store import Store

SettingsT = TypeVar("SettingsT", bound=BaseSettings)
T = TypeVar("T")

stderr = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def load_settings() -> Settings:
    return load(Settings)


def load(settings_class: type[SettingsT]) -> SettingsT:
    """The settings from the environment, or one line naming every bad variable."""
    try:
        return settings_class()
    except ValidationError as exc:
        problems = "; ".join(
            f"MAILSIFT_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        fail(f"bad setting: {problems}")


def run_on_store(
    action: Callable[[Store], Awaitable[T]], expected: tuple[type[Exception], ...] = ()
) -> T:
    """Run ``action`` on the migrated store; ``expected`` errors (with a ``message``) and
    database or file errors become one-line failures."""
    # Here, not at the top: ``mailsift check`` needs no database and starts faster without.
    from mailsift.store import database_url, open_store, upgrade
    from mailsift.store.errors import StoreError

    settings = load_settings()
    url = database_url(settings.database_url, settings.data_dir)

    async def main() -> T:
        async with open_store(url) as store:
            return await action(store)

    try:
        upgrade(url)
        return asyncio.run(main())
    except expected as exc:
        fail(str(getattr(exc, "message", exc)))
    except (StoreError, OSError, ValueError) as exc:
        fail(str(exc))
