"""The ``mailsift`` command line.

Each command lives in a module of its own, imported only when that command runs (or when the
help lists every command): ``mailsift check`` must not pay for the web, database and queue
stack that ``serve`` and ``worker`` need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from mailsift import __version__

if TYPE_CHECKING:
    from typer._click import Command, Context

# command name -> the module under mailsift.cli whose ``register(app)`` adds it
COMMANDS = {
    "check": "check",
    "verify": "verify",
    "accounts": "accounts",
    "serve": "serve",
    "worker": "worker",
    "db": "db",
    "remote": "remote",
    "suppress": "suppress",
    "jobs": "jobs",
    "doctor": "doctor",
}


class _LazyCommands(TyperGroup):
    """A group that imports a command's module the first time the command is needed."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        if cmd_name not in self.commands:
            module = importlib.import_module(f"mailsift.cli.{module_name}")
            holder = typer.Typer()
            module.register(holder)
            command = typer.main.get_group(holder).get_command(ctx, cmd_name)
            if command is None:
                raise RuntimeError(f"mailsift.cli.{module_name} does not register {cmd_name!r}")
            self.add_command(command, cmd_name)
        return self.commands[cmd_name]


app = typer.Typer(
    name="mailsift",
    help="Verify email addresses without sending mail: syntax, DNS and the mail server's word.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_LazyCommands,
)


def _show_version(wanted: bool) -> None:
    if wanted:
        typer.echo(f"mailsift {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """mailsift: email list verification that never sends a message."""


def main() -> None:
    app()
