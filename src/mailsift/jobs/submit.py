"""Submitting lists: the one use case behind every upload, from the API and the dashboard alike.

``submit_lists`` takes an account, its files and options, and returns one queued job per file,
or raises a ``Refusal`` saying why nothing was taken: too many jobs in flight, a list that
cannot be read, or credit short. Uploads are all or none: a refused file withdraws the jobs
of the same upload made before it, with all their credit given back. The faces (``api``,
``web``) only translate HTTP into this call and a ``Refusal`` into their own answers, so they
cannot drift apart on credits or limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from mailsift.accounts.credits import job_reservation, jobs_in_flight, settle_job
from mailsift.accounts.errors import AccountError, InsufficientCredit, TooManyJobs
from mailsift.accounts.ledger import Balance
from mailsift.jobs.formats.base import DEFAULT_LIMITS
from mailsift.jobs.intake import IntakeError, IntakeLimits, UnknownChoice
from mailsift.jobs.service import create_job
from mailsift.store.engine import Store
from mailsift.store.jobs import cancel_job
from mailsift.store.models import Account, Job, JobSource

WITHDRAWN = "Withdrawn: another list of the same upload was refused."


class RefusalKind(StrEnum):
    TOO_MANY_JOBS = "too_many_jobs"  # over the account's cap of unfinished jobs
    NO_CREDIT = "no_credit"  # the balance is short of what the lists need
    BAD_LIST = "bad_list"  # a file that cannot be taken in
    UNKNOWN_CHOICE = "unknown_choice"  # a sheet or email column the file does not have


class Refusal(Exception):
    """Nothing of the upload was kept, and nothing was charged; ``message`` says why."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class ListFile:
    """One uploaded list: where it lies on disk and the name it was uploaded under."""

    path: Path
    filename: str
    # Where the addresses are (a name or 1-based number), when the intake's guess is not wanted.
    sheet: str | None = None
    column: str | None = None


@dataclass(frozen=True, slots=True)
class SubmitOptions:
    """Where the upload came from, which balance it spends, and the limits it is held to."""

    source: JobSource
    balance: Balance
    max_jobs_in_flight: int = 0  # 0: no cap
    max_upload_bytes: int = DEFAULT_LIMITS.max_bytes
    callback_url: str | None = None
    sheet: str | None = None  # where the addresses are (a name or 1-based number); None: guessed
    email_column: str | None = None
    link_base: str | None = None  # where the upload came in: its callbacks' links start so


def spends(source: JobSource) -> Balance:
    """Dashboard uploads spend monthly credit; everything else spends API credit."""
    return Balance.MONTHLY if source == JobSource.DASHBOARD else Balance.API


async def check_room(store: Store, account_id: int, new_jobs: int, cap: int) -> None:
    """Refuse early, before reading any list, an upload over the cap of jobs in flight."""
    if not cap:
        return
    async with store.read() as session:
        running = await jobs_in_flight(session, account_id)
    if running + new_jobs > cap:
        raise Refusal(RefusalKind.TOO_MANY_JOBS, TooManyJobs(cap).message)


async def submit_lists(
    store: Store, account: Account, files: Sequence[ListFile], options: SubmitOptions
) -> list[Job]:
    """One queued job per file, in order, all or none (see the module's docstring)."""
    if not files:
        raise Refusal(RefusalKind.BAD_LIST, "Give at least one list.")
    await check_room(store, account.id, len(files), options.max_jobs_in_flight)
    reserve = job_reservation(
        account.id, balance=options.balance, max_in_flight=options.max_jobs_in_flight or None
    )
    limits = IntakeLimits(max_bytes=options.max_upload_bytes)
    created: list[Job] = []
    for file in files:
        try:
            job = await create_job(
                store,
                file.path,
                file.filename,
                source=options.source,
                account=account,
                reserve=reserve,
                callback_url=options.callback_url,
                link_base=options.link_base,
                limits=limits,
                sheet=file.sheet or options.sheet,  # a file's own choice, else the upload's
                column=file.column or options.email_column,
            )
        except BaseException as exc:
            await withdraw(store, created, WITHDRAWN)
            if isinstance(exc, IntakeError | AccountError):
                prefix = f"{file.filename}: " if len(files) > 1 else ""
                raise _refusal(exc, prefix) from exc
            raise
        created.append(job)
    return created


async def withdraw(store: Store, jobs: Iterable[Job], message: str) -> None:
    """Cancel jobs whose ids were never given out, and give all their credit back."""
    for job in jobs:
        await cancel_job(store, job.id, message)
        await settle_job(store, job.id, everything=True)


def _refusal(exc: IntakeError | AccountError, prefix: str) -> Refusal:
    if isinstance(exc, TooManyJobs):
        return Refusal(RefusalKind.TOO_MANY_JOBS, exc.message)
    if isinstance(exc, InsufficientCredit):
        return Refusal(RefusalKind.NO_CREDIT, prefix + exc.message)
    if isinstance(exc, UnknownChoice):
        return Refusal(RefusalKind.UNKNOWN_CHOICE, prefix + exc.message)
    return Refusal(RefusalKind.BAD_LIST, prefix + exc.message)
