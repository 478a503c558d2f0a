"""The store's own exceptions: what callers catch instead of the database driver's.

Each carries ``message``, one line fit for a terminal or an HTTP answer: no SQL, no
parameters, no traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError


class StoreError(Exception):
    """The database failed to do what was asked."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StoreUnavailable(StoreError):
    """The database cannot be reached or refused the work (gone, locked, out of space)."""


class StoreConflict(StoreError):
    """A write broke a uniqueness rule (the row exists already)."""


def one_line(exc: BaseException) -> str:
    """The driver's own words, first line only (SQLAlchemy appends the SQL and a link)."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip().splitlines()
    first = text[0].strip() if text else ""
    return first or type(cause).__name__


def translate(exc: SQLAlchemyError) -> StoreError:
    if isinstance(exc, IntegrityError):
        return StoreConflict(f"database conflict: {one_line(exc)}")
    return StoreUnavailable(f"database unavailable: {one_line(exc)}")


@contextmanager
def translated() -> Iterator[None]:
    """Turn SQLAlchemy's exceptions raised inside the block into the store's own."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise translate(exc) from exc
