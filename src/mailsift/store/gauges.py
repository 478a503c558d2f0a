"""What ``/metrics`` reads from the database at each scrape: cluster-wide numbers that no one
process knows (jobs by stage, the queue, credit movements)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select

from mailsift.store.engine import Store
from mailsift.store.models import ACTIVE_STAGES, Chunk, Job, LedgerEntry


@dataclass(frozen=True, slots=True)
class StoreGauges:
    jobs_by_stage: dict[str, int] = field(default_factory=dict)
    chunks_by_state: dict[str, int] = field(default_factory=dict)  # of active jobs
    addresses_pending: int = 0  # of active jobs, not yet final
    # (balance, ledger kind) -> credits added / spent, all time
    credits_added: dict[tuple[str, str], int] = field(default_factory=dict)
    credits_spent: dict[tuple[str, str], int] = field(default_factory=dict)


async def read_gauges(store: Store) -> StoreGauges:
    async with store.read() as session:
        stages = await session.execute(select(Job.stage, func.count()).group_by(Job.stage))
        chunks = await session.execute(
            select(Chunk.state, func.count())
            .join(Job, Job.id == Chunk.job_id)
            .where(Job.stage.in_(ACTIVE_STAGES))
            .group_by(Chunk.state)
        )
        pending = await session.scalar(
            select(func.coalesce(func.sum(Job.total - Job.done), 0)).where(
                Job.stage.in_(ACTIVE_STAGES)
            )
        )
        added: dict[tuple[str, str], int] = {}
        spent: dict[tuple[str, str], int] = {}
        for balance, column in (
            ("api", LedgerEntry.api_delta),
            ("monthly", LedgerEntry.monthly_delta),
        ):
            rows = await session.execute(
                select(
                    LedgerEntry.kind,
                    func.sum(case((column > 0, column), else_=0)),
                    func.sum(case((column < 0, -column), else_=0)),
                ).group_by(LedgerEntry.kind)
            )
            for kind, plus, minus in rows:
                added[(balance, kind)] = int(plus or 0)
                spent[(balance, kind)] = int(minus or 0)
    return StoreGauges(
        jobs_by_stage={str(stage): int(count) for stage, count in stages},
        chunks_by_state={str(state): int(count) for state, count in chunks},
        addresses_pending=int(pending or 0),
        credits_added=added,
        credits_spent=spent,
    )
