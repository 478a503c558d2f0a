"""``mailsift db upgrade``: bring the database schema to the version this mailsift needs."""

from __future__ import annotations

import typer
from sqlalchemy.engine import make_url

from mailsift.cli.common import fail, load_settings
from mailsift.store import database_url, upgrade
from mailsift.store.errors import StoreError
from mailsift.store.migrate import current_revision


def register(app: typer.Typer) -> None:
    db = typer.Typer(
        help="The database mailsift keeps its jobs and accounts in.", no_args_is_help=True
    )
    db.command("upgrade")(upgrade_command)
    app.add_typer(db, name="db")


def upgrade_command() -> None:
    """Create the tables, or migrate them to this version (safe to run again)."""
    settings = load_settings()
    url = database_url(settings.database_url, settings.data_dir)
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        upgrade(url)
        revision = current_revision(url)
    except (StoreError, OSError, ValueError) as exc:
        fail(f"cannot upgrade {shown}: {exc}")
    typer.echo(f"{shown} is at schema revision {revision}.")
