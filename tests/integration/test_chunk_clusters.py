"""A job's chunks are dealt by domain: a domain's addresses travel together, whatever the order
of the list, and a large domain's chunks spread over the queue. SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import select

from mailsift.jobs.items import DomainChunks, estimated_rows
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


def _pairs(by_chunk: dict[int, Counter[str]]) -> int:
    """(chunk, domain) pairs: each costs at least one SMTP session and one accept-all probe."""
    return sum(len(counts) for counts in by_chunk.values())


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


async def test_a_shuffled_list_is_dealt_into_chunks_by_domain(store: Store, tmp_path: Path) -> None:
    path, addresses = _shuffled_list(tmp_path)
    job = await create_job(store, path, "list.txt", source=JobSource.API, chunk_size=CHUNK_SIZE)
    chunks = await _chunks_of(store, job.id)
    assert all(sum(counts.values()) <= CHUNK_SIZE for counts in chunks.values())
    assert sum(sum(counts.values()) for counts in chunks.values()) == len(addresses)
    async with store.read() as session:
        queued = (await session.scalars(select(Chunk.chunk).where(Chunk.job_id == job.id))).all()
    assert sorted(queued) == sorted(chunks)  # every chunk dealt is queued, and only those
    # Dealt in file order, the shuffled list would spread nearly every domain over its chunks.
    in_file_order: dict[int, Counter[str]] = defaultdict(Counter)
    for n, address in enumerate(addresses):
        in_file_order[n // CHUNK_SIZE][address.partition("@")[2]] += 1
    assert _pairs(chunks) * 2 <= _pairs(in_file_order)
    spans = Counter(domain for counts in chunks.values() for domain in counts)
    small = [domain for domain in SIZES if domain.startswith("small")]
    assert sum(spans[domain] == 1 for domain in small) >= len(small) * 3 // 4
    # The large domain fills chunks of its own, spread over the queue from its start: among
    # the first chunks a worker takes, and again in the second half.
    order = sorted(chunks)
    holding_big = [order.index(n) for n in order if chunks[n]["big.test"]]
    assert len(holding_big) <= SIZES["big.test"] // CHUNK_SIZE + 2
    assert holding_big[0] <= 1
    assert holding_big[-1] >= len(order) // 2


def test_one_bucket_deals_in_file_order() -> None:
    chunks = DomainChunks(size=3)
    chunks.plan("abcabcab")  # nothing to plan with one bucket
    assert [chunks.chunk_for(d) for d in "abcabcab"] == [0, 0, 0, 1, 1, 1, 2, 2]
    assert chunks.ids == [0, 1, 2]


def test_each_bucket_fills_its_own_chunks() -> None:
    chunks = DomainChunks(size=2, expected_rows=128)  # 64 buckets
    assert chunks.bucket("a.test") != chunks.bucket("b.test")
    dealt = [chunks.chunk_for(domain) for domain in ["a.test"] * 5 + ["b.test"] * 3]
    assert dealt[:5] == [0, 0, 1, 1, 2]  # a.test alone in its chunks
    assert set(dealt[5:]).isdisjoint(dealt[:5])  # b.test: chunks of its own
    assert sorted(chunks.ids) == [0, 1, 2, 3, 4]


def test_a_plan_spreads_each_buckets_chunks_over_the_numbers() -> None:
    sample = ["big.test"] * 6 + ["tiny.test"] * 2
    chunks = DomainChunks(size=2, expected_rows=8)  # 4 buckets: big 3 chunks, small 1
    assert chunks.bucket("big.test") != chunks.bucket("tiny.test")
    chunks.plan(sample)
    dealt = [chunks.chunk_for(domain) for domain in sample]
    # big.test sorts at 1/6, 3/6, 5/6; tiny.test, the one bucket of one chunk, at 1/2 after
    # big's second (the bucket with more chunks first).
    assert dealt == [0, 0, 1, 1, 3, 3, 2, 2]
    extra = chunks.chunk_for("big.test")  # one more than planned: the next free number
    assert extra == 4


def test_the_list_size_is_estimated_from_its_first_lines(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("".join(f"user{n:05d}@example.com\n" for n in range(10_000)), "utf-8")
    assert estimated_rows(path, text=True) == 10_000
