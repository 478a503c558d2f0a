"""The procrastinate dispatcher inside the test process: submitting, working, sweeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from mailsift.dispatch.config import QueueSettings
from mailsift.dispatch.pgqueue import (
    QUEUE_SCHEMA,
    RETRY_PRIORITY,
    ProcrastinateDispatcher,
    chunk_lock,
)
from mailsift.jobs.runner import JobRunner
from mailsift.jobs.service import create_job
from mailsift.store import Store, open_store
from mailsift.store.chunks import start
from mailsift.store.models import Chunk, JobItem, JobSource, utcnow
from mailsift.verify.engine import Verifier
from tests.integration.conftest import FakeVerifier
from tests.integration.test_jobs import sample_rows, wait_until_completed, write_csv
from tests.mailworld.world import MailWorld

pytestmark = pytest.mark.postgres

FAST = QueueSettings(
    queue_poll_interval=0.1,
    worker_heartbeat=0.2,
    worker_stalled_after=1.0,
    worker_shutdown_grace=1.0,
    queue_keep_hours=1,  # the tests read the finished tasks
    host_slot_ttl=2.0,
)


@pytest.fixture
async def pg_store(migrated_postgres_url: str) -> AsyncIterator[Store]:
    async with open_store(migrated_postgres_url) as opened:
        yield opened


@pytest.fixture
async def dispatchers(pg_store: Store) -> AsyncIterator[list[ProcrastinateDispatcher]]:
    """Dispatchers to start; all are stopped at the end."""
    made: list[ProcrastinateDispatcher] = []
    yield made
    for dispatcher in made:
        await dispatcher.stop()


async def started(
    made: list[ProcrastinateDispatcher],
    store: Store,
    runner: JobRunner | None,
    holder: str,
    options: QueueSettings = FAST,
) -> ProcrastinateDispatcher:
    dispatcher = ProcrastinateDispatcher(
        store, runner, concurrency=2, options=options, holder=holder
    )
    made.append(dispatcher)
    await dispatcher.start()
    return dispatcher


async def a_job(store: Store, tmp_path: Path, rows: int = 50, chunk_size: int = 10) -> int:
    path = write_csv(tmp_path / "a.csv", sample_rows(rows))
    job = await create_job(store, path, "a.csv", source=JobSource.API, chunk_size=chunk_size)
    return job.id


async def queue_rows(store: Store, query: str) -> list[tuple[object, ...]]:
    async with store.read() as session:
        return [tuple(row) for row in await session.execute(text(query))]


async def chunk_rows(store: Store, job_id: int) -> list[tuple[int, str, int, str]]:
    query = select(Chunk.chunk, Chunk.state, Chunk.attempts, Chunk.holder).where(
        Chunk.job_id == job_id
    )
    async with store.read() as session:
        return [tuple(row) for row in await session.execute(query.order_by(Chunk.chunk))]  # type: ignore[misc]


async def test_a_job_submitted_without_workers_is_run_by_a_worker_elsewhere(
    pg_store: Store, dispatchers: list[ProcrastinateDispatcher], tmp_path: Path
) -> None:
    api = await started(dispatchers, pg_store, None, "api-node:1")
    verifier = FakeVerifier()
    worker = await started(dispatchers, pg_store, JobRunner(pg_store, verifier), "worker-node:2")
    job_id = await a_job(pg_store, tmp_path)

    await api.submit(job_id)
    job = await wait_until_completed(pg_store, job_id)
    await worker.stop()  # the last task is marked succeeded just after the job completes

    assert job.done == 50
    assert sorted(verifier.asked) == sorted(row[1] for row in sample_rows(50))
    assert await chunk_rows(pg_store, job_id) == [(n, "done", 1, "worker-node:2") for n in range(5)]
    tasks = await queue_rows(
        pg_store, f"SELECT lock, status FROM {QUEUE_SCHEMA}.procrastinate_jobs ORDER BY id"
    )
    assert tasks == [(chunk_lock(job_id, n), "succeeded") for n in range(5)]


async def test_submitting_twice_queues_each_chunk_once(
    pg_store: Store, dispatchers: list[ProcrastinateDispatcher], tmp_path: Path
) -> None:
    api = await started(dispatchers, pg_store, None, "api-node:1")
    job_id = await a_job(pg_store, tmp_path)
    await api.submit(job_id)
    await api.submit(job_id)
    tasks = await queue_rows(
        pg_store, f"SELECT count(*), count(DISTINCT lock) FROM {QUEUE_SCHEMA}.procrastinate_jobs"
    )
    assert tasks == [(5, 5)]


async def test_the_tasks_of_a_stalled_worker_run_again(
    pg_store: Store, dispatchers: list[ProcrastinateDispatcher], tmp_path: Path
) -> None:
    api = await started(dispatchers, pg_store, None, "api-node:1")
    job_id = await a_job(pg_store, tmp_path, rows=10, chunk_size=10)
    await api.submit(job_id)
    # A worker took the chunk, then went silent (killed): its heartbeat is old.
    async with pg_store.write() as session:
        await session.execute(text(f"SET LOCAL search_path TO {QUEUE_SCHEMA}"))  # its triggers
        worker_id = (
            await session.execute(
                text(
                    f"INSERT INTO {QUEUE_SCHEMA}.procrastinate_workers (last_heartbeat) "
                    "VALUES (now() - interval '1 hour') RETURNING id"
                )
            )
        ).scalar_one()
        await session.execute(
            text(
                f"UPDATE {QUEUE_SCHEMA}.procrastinate_jobs "
                "SET status = 'doing', worker_id = :worker"
            ),
            {"worker": worker_id},
        )
    assert await start(pg_store, job_id, 0, holder="dead-node:3") is not None

    verifier = FakeVerifier()
    worker = await started(dispatchers, pg_store, JobRunner(pg_store, verifier), "worker-node:2")
    job = await wait_until_completed(pg_store, job_id)
    await worker.stop()

    assert job.done == 10
    # The dead worker's attempt is given back: only a chunk's own failures count.
    assert await chunk_rows(pg_store, job_id) == [(0, "done", 1, "worker-node:2")]
    [(attempts, status)] = await queue_rows(
        pg_store, f"SELECT attempts, status FROM {QUEUE_SCHEMA}.procrastinate_jobs"
    )
    assert (attempts, status) == (2, "succeeded")  # the dead worker's run, then ours


async def test_an_open_chunk_with_no_task_gets_one_from_the_sweep(
    pg_store: Store, dispatchers: list[ProcrastinateDispatcher], tmp_path: Path
) -> None:
    # The API node died between storing the job and queueing its chunks.
    job_id = await a_job(pg_store, tmp_path, rows=20)
    async with pg_store.write() as session:
        await session.execute(
            update(Chunk)
            .where(Chunk.job_id == job_id)
            .values(updated_at=utcnow().replace(year=2020))
        )
    worker = await started(dispatchers, pg_store, JobRunner(pg_store, FakeVerifier()), "w:1")
    job = await wait_until_completed(pg_store, job_id)
    assert job.done == 20
    assert await worker.requeue_orphans() == 0


async def test_finished_tasks_are_pruned(
    pg_store: Store, dispatchers: list[ProcrastinateDispatcher], tmp_path: Path
) -> None:
    keep_none = FAST.model_copy(update={"queue_keep_hours": 0})
    api = await started(dispatchers, pg_store, None, "api-node:1", keep_none)
    worker = await started(dispatchers, pg_store, JobRunner(pg_store, FakeVerifier()), "w:1")
    job_id = await a_job(pg_store, tmp_path, rows=20)
    await api.submit(job_id)
    await wait_until_completed(pg_store, job_id)
    await worker.stop()  # the last task is marked succeeded just after the job completes
    count = f"SELECT count(*) FROM {QUEUE_SCHEMA}.procrastinate_jobs"
    assert await queue_rows(pg_store, count + " WHERE status = 'succeeded'") == [(2,)]
    await api.prune()
    assert await queue_rows(pg_store, count) == [(0,)]


async def test_greylisted_addresses_are_asked_again_by_a_scheduled_task(
    cluster_world: MailWorld,
    pg_store: Store,
    dispatchers: list[ProcrastinateDispatcher],
    tmp_path: Path,
) -> None:
    emails = ["alice@greylist.test", "nobody@greylist.test", "alice@ok.test"]
    path = write_csv(tmp_path / "g.csv", [[e] for e in emails], header=["email"])
    job = await create_job(pg_store, path, "g.csv", source=JobSource.API)
    settings = cluster_world.settings(mail_from=f"verify-{job.public_id[:8]}@mailsift.test")
    runner = JobRunner.deferring(
        pg_store, Verifier(settings.engine_options()), greylist_deadline=8.0, flush_interval=0.05
    )
    worker = await started(dispatchers, pg_store, runner, "w:1")
    await worker.submit(job.id)
    await wait_until_completed(pg_store, job.id)
    await worker.stop()

    async with pg_store.read() as session:
        items = (await session.execute(select(JobItem).where(JobItem.job_id == job.id))).scalars()
        stored = {item.email: item for item in items}
    assert {e: (stored[e].result, stored[e].deferred_at is not None) for e in emails} == {
        "alice@greylist.test": ("valid", True),
        "nobody@greylist.test": ("invalid", True),
        "alice@ok.test": ("valid", False),
    }
    tasks = await queue_rows(
        pg_store,
        f"SELECT priority, scheduled_at IS NOT NULL FROM {QUEUE_SCHEMA}.procrastinate_jobs "
        "ORDER BY id",
    )
    assert tasks[0] == (0, False)
    assert len(tasks) > 1
    assert all(row == (RETRY_PRIORITY, True) for row in tasks[1:])
