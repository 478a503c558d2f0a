"""A job made from a workbook on a chosen sheet, read in this process and by the reader child."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from mailsift.jobs.service import create_job
from mailsift.store import Store
from mailsift.store.models import JobItem, JobSource
from tests.listcorpus import CASES, WORKBOOK, write_workbook

_EXPECTED = next(case for case in CASES if case.file == WORKBOOK)


@pytest.mark.parametrize("in_child", [False, True], ids=["thread", "child"])
async def test_the_sheet_choice_and_cell_addresses_reach_the_store(
    store: Store, tmp_path: Path, in_child: bool
) -> None:
    workbook = write_workbook(tmp_path / WORKBOOK)
    job = await create_job(
        store,
        workbook,
        WORKBOOK,
        source=JobSource.API,
        sheet="contacts",
        column="2",
        read_in_child=in_child,
    )
    assert job.layout is not None
    assert (job.layout["sheet"], job.layout["email_column"]) == ("Contacts", 1)
    assert job.layout["choice"] == {"sheet": "contacts", "column": "2"}
    assert (job.total, job.blank, job.duplicates) == (5, _EXPECTED.blank, _EXPECTED.duplicates)
    async with store.read() as session:
        items = (
            await session.execute(
                select(JobItem.row_no, JobItem.email, JobItem.cells)
                .where(JobItem.job_id == job.id)
                .order_by(JobItem.seq)
            )
        ).all()
    assert [email for _, email, _ in items] == list(_EXPECTED.expected)
    # Both addresses of row 2 keep that row's number and cells, the cell as it was written.
    assert [(row_no, cells[1]) for row_no, _, cells in items[1:3]] == [
        (2, "user08@capped.test; user09@capped.test"),
        (2, "user08@capped.test; user09@capped.test"),
    ]
