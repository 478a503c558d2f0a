"""The ``mailsift`` command line."""

from __future__ import annotations

import typer

from mailsift.cli import accounts, check, db, remote, serve, verify, worker

app = typer.Typer(
    name="mailsift",
    help="Verify email addresses without sending mail: syntax, DNS and the mail server's word.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """mailsift: email list verification that never sends a message."""


check.register(app)
verify.register(app)
accounts.register(app)
serve.register(app)
worker.register(app)
db.register(app)
remote.register(app)


def main() -> None:
    app()
