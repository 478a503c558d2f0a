"""A job's chunks are cut by domain: a domain's addresses travel together, whatever the order
of the list, and the large domains' chunks are spread over the queue. SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import select

from mailsift.jobs.service import create_job
from mailsift.store import Store
from mailsift.store.models import Chunk, JobItem, JobSource

CHUNK_SIZE = 10
SIZES = {"big.test": 34, "mid.test": 15, **{f"small{i:02d}.test": 1 + i % 3 for i in range(21)}}


def _shuffled_list(tmp_path: Path) -> tuple[Path, list[str]]:
    addresses = [f"user{n}@{domain}" for domain, size in SIZES.items() for n in range(size)]
    random.Random(4).shuffle(addresses)
    path = tmp_path / "list.txt"
    path.write_text("email\n" + "\n".join([*addresses, "not-an-address"]) + "\n", "utf-8")
    return path, addresses


async def _chunks_of(store: Store, job_id: int) -> dict[int, Counter[str]]:
    query = select(JobItem.chunk, JobItem.domain).where(
        JobItem.job_id == job_id, JobItem.chunk.is_not(None)
    )
    by_chunk: dict[int, Counter[str]] = defaultdict(Counter)
    async with store.read() as session:
        for chunk, domain in await session.execute(query):
            assert chunk is not None
            by_chunk[chunk][domain] += 1
    return dict(by_chunk)


async def test_a_shuffled_list_is_cut_into_chunks_by_domain(store: Store, tmp_path: Path) -> None:
    path, addresses = _shuffled_list(tmp_path)
    job = await create_job(store, path, "list.txt", source=JobSource.API, chunk_size=CHUNK_SIZE)
    chunks = await _chunks_of(store, job.id)
    total = len(addresses)
    wanted_chunks = -(-total // CHUNK_SIZE)
    assert sorted(chunks) == list(range(wanted_chunks))
    sizes = [sum(chunks[n].values()) for n in sorted(chunks)]
    assert sum(sizes) == total
    assert all(size == CHUNK_SIZE for size in sizes[:-1])  # cut every CHUNK_SIZE addresses
    spans = Counter(domain for counts in chunks.values() for domain in counts)
    for domain, size in SIZES.items():
        # In pieces of CHUNK_SIZE; a piece is cut in two at most by a chunk boundary.
        pieces = -(-size // CHUNK_SIZE)
        assert spans[domain] <= 2 * pieces, (domain, spans[domain])
    # A shuffled list dealt in file order would put nearly every domain in every chunk.
    assert sum(spans.values()) <= len(SIZES) + 2 * wanted_chunks
    async with store.read() as session:
        queued = (await session.scalars(select(Chunk.chunk).where(Chunk.job_id == job.id))).all()
    assert sorted(queued) == list(range(wanted_chunks))


async def test_the_largest_domains_start_at_once_and_spread_over_the_queue(
    store: Store, tmp_path: Path
) -> None:
    path, _ = _shuffled_list(tmp_path)
    job = await create_job(store, path, "list.txt", source=JobSource.API, chunk_size=CHUNK_SIZE)
    chunks = await _chunks_of(store, job.id)
    holding_big = sorted(n for n, counts in chunks.items() if counts["big.test"])
    assert holding_big[0] <= 1  # not behind every small domain
    assert holding_big[-1] >= len(chunks) - 2  # nor all ahead of them
    assert sum(chunks[n]["big.test"] for n in holding_big) == SIZES["big.test"]
