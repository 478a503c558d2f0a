"""What the dashboard shows of a list before anything is charged: the intake's own preview
(its sheet, its email column, which the uploader may change, its first rows) and the counts
that decide the credit it needs, from one reading of the whole list as the intake reads it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mailsift.jobs.intake import IntakeLimits, IntakeStats, read_rows
from mailsift.jobs.preview import ListPreview, preview_list

PREVIEW_ROWS = 8


@dataclass(frozen=True, slots=True)
class ListCheck:
    preview: ListPreview
    stats: IntakeStats

    @property
    def credits_needed(self) -> int:
        return self.stats.unique


def check_list(
    path: Path,
    filename: str,
    limits: IntakeLimits,
    *,
    sheet: str | None = None,
    column: str | None = None,
) -> ListCheck:
    """Raises ``IntakeError`` for a list the intake would refuse, with the same message."""
    preview = preview_list(
        path, filename=filename, sheet=sheet, column=column, max_rows=PREVIEW_ROWS, limits=limits
    )
    stats = IntakeStats()
    for _ in read_rows(path, preview.layout, stats, limits=limits):
        pass
    return ListCheck(preview, stats)
