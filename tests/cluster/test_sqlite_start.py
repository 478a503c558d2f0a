"""Processes starting together on one SQLite file: the second waits for the first's lock."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import create_engine, text

from mailsift.store.engine import configure_sqlite


def test_opening_a_database_another_process_is_creating_waits_for_it(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("BEGIN IMMEDIATE")  # a first migration, writing in rollback-journal mode
    first.execute("CREATE TABLE t (x)")
    release = threading.Timer(0.3, first.execute, ("COMMIT",))
    release.start()

    engine = create_engine(f"sqlite:///{path}")
    configure_sqlite(engine)
    try:
        with engine.connect() as connection:  # switching to WAL needs the lock: it waits
            mode = connection.execute(text("PRAGMA journal_mode")).scalar()
    finally:
        engine.dispose()
        release.join()
        first.close()
    assert mode == "wal"
