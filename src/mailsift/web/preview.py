"""What the dashboard shows of a list before anything is charged: its first rows, the email
column (which the uploader may change) and the counts that decide the credit it needs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from mailsift.jobs.intake import IntakeLimits, IntakeStats, read_list, sniff_layout

PREVIEW_ROWS = 8


@dataclass(frozen=True, slots=True)
class ListPreview:
    columns: list[str]  # a name for each column: the header's, or "Column N"
    email_column: int
    rows: list[list[str]]  # the first rows, each padded to the columns
    stats: IntakeStats

    @property
    def credits_needed(self) -> int:
        return self.stats.unique


def preview_list(
    path: Path, filename: str, limits: IntakeLimits, email_column: int | None = None
) -> ListPreview:
    """Read the whole list once (as the intake will) and keep its first rows.

    Raises ``IntakeError`` for a list the intake would refuse, with the same message.
    """
    layout = sniff_layout(path, filename=filename, limits=limits)
    if email_column is not None:
        layout = dataclasses.replace(layout, email_column=email_column)
    stats = IntakeStats()
    rows: list[list[str]] = []
    width = len(layout.header or ()) or layout.email_column + 1
    for row in read_list(path, layout, stats, limits=limits):
        if len(rows) < PREVIEW_ROWS:
            rows.append(list(row.cells))
            width = max(width, len(row.cells))
    header = list(layout.header or ())
    columns = [
        (header[n].strip() if n < len(header) and header[n].strip() else f"Column {n + 1}")
        for n in range(width)
    ]
    padded = [cells + [""] * (width - len(cells)) for cells in rows]
    return ListPreview(columns, layout.email_column, padded, stats)
