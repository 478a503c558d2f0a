"""Pieces every command shares: settings with a readable error, and one-line failures."""

from __future__ import annotations

from typing import NoReturn, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.console import Console

from mailsift.settings import Settings

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

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
