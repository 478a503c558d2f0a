"""``mailsift worker``: one worker of a cluster, verifying chunks queued in PostgreSQL.

Start as many as wanted, on as many machines, all with the same ``MAILSIFT_*`` settings: they
share the queue and the per-server connection caps through the database. SIGTERM or SIGINT
stops a worker gracefully: the chunks it is running get ``MAILSIFT_WORKER_SHUTDOWN_GRACE``
seconds to finish, then go back to the queue.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Annotated

import typer

from mailsift.api.config import ApiSettings
from mailsift.cli.common import fail, load, load_settings, stderr
from mailsift.cli.serve import load_api_settings
from mailsift.dispatch.config import QueueSettings
from mailsift.dispatch.host_slots import process_name
from mailsift.settings import Settings
from mailsift.store import database_url, upgrade
from mailsift.store.errors import StoreError
from mailsift.store.url import is_sqlite

NEEDS_POSTGRES = (
    "mailsift worker needs PostgreSQL: set MAILSIFT_DATABASE_URL=postgresql://… "
    "(with SQLite, mailsift serve verifies inside its own process)"
)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Chunks verified at once (default: MAILSIFT_WORKERS)."),
    ] = None,
) -> None:
    """Verify chunks from the cluster's queue until SIGTERM or SIGINT."""
    settings = load_settings()
    config = load_api_settings()
    load(QueueSettings)  # a bad queue setting is reported here, in one line
    url = database_url(settings.database_url, settings.data_dir)
    if is_sqlite(url):
        fail(NEEDS_POSTGRES)
    if not config.secret_key:
        stderr.print(
            "warning: MAILSIFT_SECRET_KEY is not set: result links in the callbacks this "
            "worker sends will only open on servers that share its data directory"
        )
    _configure_logging()
    try:
        upgrade(url)
        asyncio.run(run_worker(settings, config, concurrency or config.workers, echo=typer.echo))
    except (StoreError, OSError, ValueError) as exc:
        fail(f"worker: {exc}")


async def run_worker(
    settings: Settings,
    config: ApiSettings,
    concurrency: int,
    *,
    echo: Callable[[str], None] = print,
) -> None:
    """Work until SIGTERM or SIGINT, then stop gracefully."""
    # Imported here: the web stack is only needed once the worker runs.
    from mailsift.api.service import running_service

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with running_service(settings, config, workers=concurrency):
        echo(f"mailsift worker {process_name()} ready: up to {concurrency} chunk(s) at once")
        await stop.wait()
        echo("stopping: chunks still running go back to the queue after the grace time")


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # procrastinate logs every task start and end at INFO: far too much for a list.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
