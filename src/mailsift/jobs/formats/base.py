"""What every list reader shares: the limits a file must stay within and the error it raises."""

from __future__ import annotations

from dataclasses import dataclass


class IntakeError(Exception):
    """A list that cannot be taken in; ``message`` is one sentence for the person who sent it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    """Upper bounds that keep one hostile or mistaken upload from exhausting the server."""

    max_bytes: int = 200 * 1024 * 1024
    max_rows: int = 5_000_000
    max_columns: int = 200
    max_line_bytes: int = 64 * 1024
    max_xlsx_uncompressed_bytes: int = 1024 * 1024 * 1024  # zip-bomb guard


DEFAULT_LIMITS = IntakeLimits()


def describe_size(n_bytes: int) -> str:
    """A byte count as people read it: ``"200 MB"``, ``"64 KB"``."""
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{n_bytes} bytes"
