"""``mailsift jobs …``: delete a job now, or every job past the retention period."""

from __future__ import annotations

from typing import Annotated

import typer

from mailsift.cli.common import fail, load_settings
from mailsift.cli.suppress import on_store
from mailsift.jobs.retention import delete_job, expire_jobs
from mailsift.jobs.service import find_job
from mailsift.store import Store


def register(app: typer.Typer) -> None:
    jobs = typer.Typer(help="Jobs kept in the store.", no_args_is_help=True)
    jobs.command("delete")(delete)
    jobs.command("expire")(expire)
    app.add_typer(jobs, name="jobs")


def delete(
    job_id: Annotated[str, typer.Argument(help="The job's id, as the API gave it.")],
) -> None:
    """Delete a job, its addresses and results now (stopping it if it runs); the ledger stays."""

    async def action(store: Store) -> bool:
        job = await find_job(store, job_id)
        return job is not None and await delete_job(store, job.id)

    if not on_store(action):
        fail(f"no job {job_id!r}")
    typer.echo(f"Deleted job {job_id}.")


def expire() -> None:
    """Delete every job finished more than MAILSIFT_RETENTION_DAYS ago, now."""
    days = load_settings().retention_days
    deleted = on_store(lambda store: expire_jobs(store, days))
    typer.echo(f"Deleted {deleted:,} job(s) finished more than {days:g} days ago.")
