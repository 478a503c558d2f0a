"""``mailsift serve``: the API and the embedded workers in one process."""

from __future__ import annotations

from typing import Annotated

import typer

from mailsift.api.config import ApiSettings
from mailsift.cli.common import fail, load, load_settings
from mailsift.store.errors import StoreError


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def load_api_settings() -> ApiSettings:
    return load(ApiSettings)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: MAILSIFT_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: MAILSIFT_PORT).")
    ] = None,
    no_workers: Annotated[
        bool,
        typer.Option("--no-workers", help="Serve the API only; other processes verify."),
    ] = False,
) -> None:
    """Serve the HTTP API with embedded workers; the first start creates a first account."""
    # Imported here: the web stack would slow down every other command's start.
    from mailsift.api.server import serve as run

    settings = load_settings()
    updates: dict[str, object] = {}
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    settings = settings.model_copy(update=updates)
    config = load_api_settings()
    try:
        run(settings, config, workers=not no_workers, echo=typer.echo)
    except (StoreError, OSError, ValueError) as exc:
        fail(f"cannot serve: {exc}")
