"""Databases for the integration tests: a SQLite file, or a fresh PostgreSQL database.

PostgreSQL comes from ``MAILSIFT_TEST_POSTGRES_URL`` (default: the local server, database
``test``, user ``postgres``). Each test gets its own database, created from a migrated
template, and dropped afterwards. Unreachable, the PostgreSQL tests skip, unless
``MAILSIFT_REQUIRE_POSTGRES=1`` makes that a failure.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from mailsift.store import Store, open_store, upgrade
from mailsift.verify.model import Reason, Result, Verification

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def _libpq(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def _admin(admin_url: str, statement: sql.Composable) -> None:
    with psycopg.connect(_libpq(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get("MAILSIFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL not reachable at {url}: set MAILSIFT_TEST_POSTGRES_URL ({exc})"
        if os.environ.get("MAILSIFT_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


def _create_database(admin_url: str, template: str | None = None) -> str:
    name = f"mailsift_test_{secrets.token_hex(6)}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    _admin(admin_url, statement)
    return name


def _drop_database(admin_url: str, name: str) -> None:
    _admin(
        admin_url, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    )


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> Iterator[str]:
    """A database migrated once per run; each test copies it."""
    name = _create_database(postgres_admin_url)
    try:
        upgrade(_libpq(postgres_admin_url, name))
        yield name
    finally:
        _drop_database(postgres_admin_url, name)


@pytest.fixture
def empty_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database with no tables at all."""
    name = _create_database(postgres_admin_url)
    try:
        yield _libpq(postgres_admin_url, name)
    finally:
        _drop_database(postgres_admin_url, name)


@pytest.fixture
def migrated_postgres_url(postgres_admin_url: str, postgres_template: str) -> Iterator[str]:
    name = _create_database(postgres_admin_url, template=postgres_template)
    try:
        yield _libpq(postgres_admin_url, name)
    finally:
        _drop_database(postgres_admin_url, name)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An unmigrated database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("empty_postgres_url")
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'mailsift.db'}"
        upgrade(url)
        return url
    migrated: str = request.getfixturevalue("migrated_postgres_url")
    return migrated


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    async with open_store(database_url) as opened:
        yield opened


# --- a verifier that needs no network -----------------------------------------------------------

VERDICTS = {
    # local-part prefix: (result, reason, accept_all, smtp code)
    "ok": (Result.VALID, Reason.ACCEPTED_EMAIL, False, 250),
    "bad": (Result.INVALID, Reason.REJECTED_EMAIL, False, 550),
    "catch": (Result.RISKY, Reason.LOW_DELIVERABILITY, True, 250),
}


def fake_verdict(address: str) -> Verification:
    """A deterministic verdict from the local part: ok… valid, bad… invalid, catch… risky,
    anything else unknown."""
    given = address.strip()
    local = given.partition("@")[0].lower()
    prefix = next((p for p in VERDICTS if local.startswith(p)), None)
    result, reason, accept_all, code = VERDICTS.get(
        prefix or "", (Result.UNKNOWN, Reason.NO_CONNECT, False, None)
    )
    return Verification(
        email=given,
        normalized=given.lower(),
        result=result,
        reason=reason,
        accept_all=accept_all,
        mx_host="mx.example.net",
        smtp_code=code,
        smtp_message=f"{code} fake answer" if code else "",
    )


class FakeVerifier:
    """Answers with ``fake_verdict`` after ``delay`` seconds each, remembering every question.

    ``fail_after`` makes a run raise after that many answers; ``skip`` addresses get none.
    """

    def __init__(
        self,
        *,
        delay: float = 0.0,
        fail_after: int | None = None,
        skip: frozenset[str] = frozenset(),
        log: Path | None = None,
    ) -> None:
        self.delay = delay
        self.fail_after = fail_after
        self.skip = skip
        self.log = log
        self.asked: list[str] = []
        self.answered: list[str] = []

    async def verify_many(self, addresses: Iterable[str]) -> AsyncIterator[Verification]:
        wanted = list(addresses)
        self.asked.extend(wanted)
        for n, address in enumerate(wanted):
            if self.fail_after is not None and n >= self.fail_after:
                raise RuntimeError("the fake verifier broke down")
            if address in self.skip:
                continue
            if self.delay:
                await asyncio.sleep(self.delay)
            self.answered.append(address)
            if self.log is not None:
                with self.log.open("a", encoding="utf-8") as file:
                    file.write(address + "\n")
            yield fake_verdict(address)
