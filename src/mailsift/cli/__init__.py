"""The ``mailsift`` command line."""

from __future__ import annotations

from typing import Annotated

import typer

from mailsift import __version__
from mailsift.cli import accounts, check, db, doctor, serve, verify, worker

app = typer.Typer(
    name="mailsift",
    help="Verify email addresses without sending mail: syntax, DNS and the mail server's word.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


check.register(app)
verify.register(app)
accounts.register(app)
serve.register(app)
worker.register(app)
db.register(app)
doctor.register(app)


def main() -> None:
    app()
