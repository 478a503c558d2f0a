"""``mailsift verify FILE``: a whole list, locally, in one process, resumable.

The list becomes a job in the local store (SQLite under ``./data/`` unless
``MAILSIFT_DATABASE_URL`` says otherwise) and in-process workers verify it. Interrupted, the
same command on the same file picks up where it stopped.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Protocol, runtime_checkable

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from mailsift.cli.common import fail, load_settings, stderr
from mailsift.dispatch.inprocess import InProcessDispatcher
from mailsift.jobs.intake import IntakeError
from mailsift.jobs.results import write_results
from mailsift.jobs.runner import ChunkVerifier, JobRunner
from mailsift.jobs.service import (
    DEFAULT_CHUNK_SIZE,
    choice_json,
    create_job,
    discard_orphans,
    file_fingerprint,
    find_resumable,
    get_job,
    result_counts,
)
from mailsift.settings import Settings
from mailsift.store import Store, database_url, open_store, upgrade
from mailsift.store.chunks import open_chunks
from mailsift.store.errors import StoreError
from mailsift.store.models import ACTIVE_STAGES, Job, JobSource, JobStage

VerifierFactory = Callable[[Settings], ChunkVerifier]
DEFAULT_WORKERS = 4
_POLL_SECONDS = 0.25
_STALL_CHECK_POLLS = 20
_RESULT_ORDER = ("valid", "invalid", "risky", "unknown")


@runtime_checkable
class _Closable(Protocol):
    async def aclose(self) -> None: ...


def default_verifier(settings: Settings) -> ChunkVerifier:
    from mailsift.verify.engine import Verifier

    return Verifier(settings.engine_options())


def register(
    app: typer.Typer,
    *,
    verifier_factory: VerifierFactory = default_verifier,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int = DEFAULT_WORKERS,
) -> None:
    """Add ``verify`` to ``app``; the keywords exist for tests and embedding."""

    def verify(
        file: Annotated[Path, typer.Argument(help="The list: CSV, TSV, TXT or XLSX.")],
        out_dir: Annotated[
            Path | None,
            typer.Option(
                "--output-dir", "-o", help="Where to write the files (default: next to FILE)."
            ),
        ] = None,
        sheet: Annotated[
            str | None,
            typer.Option(
                "--sheet",
                metavar="NAME|N",
                help="The worksheet with the addresses (XLSX), by name or number from 1 "
                "(default: the sheet with the best email column).",
            ),
        ] = None,
        column: Annotated[
            str | None,
            typer.Option(
                "--column",
                metavar="NAME|N",
                help="The column with the addresses, by header or number from 1 "
                "(default: the column found to hold them).",
            ),
        ] = None,
    ) -> None:
        """Verify a whole list and write FILE-valid.csv, FILE-invalid.csv and FILE-unknown.csv."""
        settings = load_settings()
        target = out_dir if out_dir is not None else file.parent
        run = _Run(settings, verifier_factory, chunk_size=chunk_size, workers=workers)
        run.choice = (sheet, column)
        try:
            url = database_url(settings.database_url, settings.data_dir)
            upgrade(url)
            asyncio.run(run.main(url, file, target))
        except KeyboardInterrupt:
            stderr.print("Interrupted. Run the same command again to resume where it stopped.")
            raise typer.Exit(130) from None
        except IntakeError as exc:
            fail(f"{file}: {exc.message}")
        except OSError as exc:
            fail(f"{exc.filename or file}: {exc.strerror or exc}")
        except StoreError as exc:
            fail(exc.message)
        except ValueError as exc:
            fail(f"database: {exc}")

    app.command("verify")(verify)


class _Run:
    def __init__(
        self, settings: Settings, factory: VerifierFactory, *, chunk_size: int, workers: int
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.chunk_size = chunk_size
        self.workers = workers
        self.choice: tuple[str | None, str | None] = (None, None)

    async def main(self, url: str, file: Path, out_dir: Path) -> None:
        async with open_store(url) as store:
            await discard_orphans(store)
            job = await self.job_for(store, file)
            job = await self.process(store, job)
            if job.stage != JobStage.COMPLETED:
                fail(f"job {job.public_id} ended {job.stage}: {job.message}", code=1)
            paths = await write_results(store, job, out_dir)
            counts = await result_counts(store, job.id)
        _print_summary(job, counts, list(paths.values()))

    async def job_for(self, store: Store, file: Path) -> Job:
        fingerprint = await asyncio.to_thread(file_fingerprint, file)
        job = await find_resumable(store, fingerprint, source=JobSource.CLI)
        sheet, column = self.choice
        choice = choice_json(sheet, column)
        if job is not None and (job.layout or {}).get("choice", choice_json(None, None)) == choice:
            stderr.print(
                f"Resuming {escape(file.name)}: {job.done:,} of {job.total:,} already verified."
            )
            return job
        return await create_job(
            store,
            file,
            file.name,
            source=JobSource.CLI,
            chunk_size=self.chunk_size,
            sheet=sheet,
            column=column,
        )

    async def process(self, store: Store, job: Job) -> Job:
        """Run the workers until the job is no longer active, showing progress."""
        if job.stage not in ACTIVE_STAGES:
            return job
        verifier = self.factory(self.settings)
        dispatcher = InProcessDispatcher(
            store,
            JobRunner(store, verifier),
            workers=self.workers,
            poll_interval=0.5,
            only_job=job.id,  # the store may hold other jobs: not this command's business
        )
        try:
            await dispatcher.start()
            await dispatcher.submit(job.id)
            return await _watch(store, job)
        finally:
            await dispatcher.stop()
            if isinstance(verifier, _Closable):
                await verifier.aclose()


async def _watch(store: Store, job: Job) -> Job:
    with _progress() as progress:
        task = progress.add_task(escape(job.filename), total=job.total, completed=job.done)
        for poll in itertools.count(1):
            if job.stage not in ACTIVE_STAGES:
                break
            await asyncio.sleep(_POLL_SECONDS)
            job = await _reload(store, job)
            progress.update(task, completed=job.done)
            if poll % _STALL_CHECK_POLLS == 0 and job.stage in ACTIVE_STAGES:
                await _check_not_stalled(store, job)
    return job


async def _reload(store: Store, job: Job) -> Job:
    current = await get_job(store, job.id)
    if current is None:
        raise RuntimeError(f"job {job.public_id} disappeared from the store")
    return current


async def _check_not_stalled(store: Store, job: Job) -> None:
    """Fail rather than wait forever on a job with nothing left to run yet unfinished."""
    if await open_chunks(store, job.id) == 0:
        job = await _reload(store, job)  # it may have completed in between
        if job.stage in ACTIVE_STAGES:
            fail(
                f"job {job.public_id} has no work left but {job.total - job.done:,} "
                "address(es) without a result",
                code=1,
            )


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(f"{speed:,.1f}/s" if speed else "-/s", style="progress.data.speed")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        console=stderr,
    )


def _print_summary(job: Job, counts: dict[tuple[str, str], int], paths: list[Path]) -> None:
    table = Table(title=f"{escape(job.filename)}: {job.total:,} unique addresses")
    table.add_column("result")
    table.add_column("reason")
    table.add_column("addresses", justify="right")
    for result in _RESULT_ORDER:
        reasons = sorted((reason, n) for (r, reason), n in counts.items() if r == result)
        for reason, n in reasons or [("-", 0)]:
            table.add_row(result, reason, f"{n:,}")
        if len(reasons) > 1:
            subtotal = sum(n for _, n in reasons)
            table.add_row(f"[bold]{result}[/]", "[bold]all[/]", f"[bold]{subtotal:,}[/]")
        table.add_section()
    console = Console(highlight=False)
    console.print(table)
    if job.duplicates or job.blank:
        console.print(f"Skipped {job.duplicates:,} duplicate and {job.blank:,} blank row(s).")
    for path in paths:
        console.print(f"Wrote {escape(str(path))}")
