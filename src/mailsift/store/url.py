"""Turn ``MAILSIFT_DATABASE_URL`` into the URLs the async store and the migrations use."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url

# Driver names an operator may write, mapped to the driver each side runs on.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
}
_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
}
SUPPORTED = ("sqlite", "postgresql")


def database_url(configured: str, data_dir: Path) -> str:
    """The configured URL, or the default SQLite file under ``data_dir``."""
    if configured.strip():
        return configured.strip()
    path = (data_dir / "mailsift.db").absolute()
    return URL.create("sqlite+aiosqlite", database=str(path)).render_as_string(hide_password=False)


def async_url(url: str) -> URL:
    """``url`` with the asyncio driver of its database (aiosqlite, psycopg)."""
    return _with_driver(url, _ASYNC_DRIVERS)


def sync_url(url: str) -> URL:
    """``url`` with a blocking driver, for Alembic (sqlite3, psycopg)."""
    return _with_driver(url, _SYNC_DRIVERS)


def libpq_url(url: str) -> str:
    """A PostgreSQL ``url`` as libpq (and so psycopg itself) takes it: no driver name."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.get_backend_name()!r}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL (``None`` for in-memory or other databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    parsed = parsed.set(drivername=drivers.get(parsed.drivername, parsed.drivername))
    if parsed.get_backend_name() not in SUPPORTED:
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql://"
        )
    return parsed
