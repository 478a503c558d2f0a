"""Run the schema migrations shipped in ``mailsift/store/migrations`` (Alembic), no ini file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text

from mailsift.store.engine import configure_sqlite
from mailsift.store.errors import translated
from mailsift.store.url import sqlite_file, sync_url

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant will do: it only has to be the same for every mailsift process.
_PG_MIGRATION_LOCK = 0x6D61696C73696674


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``; safe to run from several processes at once."""
    _run(url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(url: str, revision: str = "base") -> None:
    """Take the database at ``url`` back to ``revision`` (``base``: no tables at all)."""
    _run(url, lambda cfg: command.downgrade(cfg, revision))


def current_revision(url: str) -> str | None:
    """The revision the database is at, ``None`` when it has never been migrated."""
    engine = _engine(url)
    try:
        with translated(), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _run(url: str, action: Callable[[Config], None]) -> None:
    engine = _engine(url)
    try:
        with translated(), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Two servers starting at once must not both create the tables.
                lock = text("SELECT pg_advisory_xact_lock(:key)")
                connection.execute(lock, {"key": _PG_MIGRATION_LOCK})
            cfg = _config()
            cfg.attributes["connection"] = connection
            action(cfg)
    finally:
        engine.dispose()


def _engine(url: str) -> Engine:
    target = sync_url(url)
    database = sqlite_file(target)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(target)
        # IMMEDIATE: a second process waits here, then finds the schema already current.
        configure_sqlite(engine, begin="BEGIN IMMEDIATE", foreign_keys=False)
        return engine
    return create_engine(target)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg
