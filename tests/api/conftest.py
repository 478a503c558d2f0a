"""A real mailsift API server per test: uvicorn on a free loopback port, in a thread of its own."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sqlalchemy import select, update

from mailsift.accounts.ledger import ledger_totals
from mailsift.accounts.service import create_account
from mailsift.api import ApiSettings, create_app
from mailsift.dispatch.engine_host import EngineVerifier
from mailsift.settings import Settings
from mailsift.store import Store, database_url, open_store, upgrade
from mailsift.store.models import ACTIVE_STAGES, Account, Job, JobStage, LedgerEntry
from mailsift.verify.address import SyntaxProblem, parse_address
from mailsift.verify.model import Reason, Result, Verification
from tests.integration.conftest import (  # noqa: F401 (the PostgreSQL fixtures, shared)
    fake_verdict,
    migrated_postgres_url,
    postgres_admin_url,
    postgres_template,
)
from tests.mailworld.world import MailWorld

T = TypeVar("T")
_START_TIMEOUT = 20.0


class FakeEngine:
    """The engine's interface without a network.

    Answers come from ``fake_verdict`` (ok… valid, bad… invalid, catch… risky, else unknown;
    bad syntax invalid). ``crash…`` addresses make the engine fail (``unexpected_error``),
    ``raise…`` ones make it raise; ``delay`` slows every answer.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.asked: list[str] = []

    async def verify_one(self, address: str, *, within: float | None = None) -> Verification:
        async for verification in self.verify_many([address]):
            return verification
        raise AssertionError("no verification")

    async def verify_many(self, addresses: Iterable[str]) -> AsyncIterator[Verification]:
        for address in addresses:
            self.asked.append(address)
            if self.delay:
                await asyncio.sleep(self.delay)
            local = address.strip().partition("@")[0]
            if isinstance(parse_address(address), SyntaxProblem):
                yield Verification(address.strip(), "", Result.INVALID, Reason.INVALID_EMAIL)
                continue
            if local.startswith("raise"):
                raise RuntimeError("the fake engine broke down")
            if local.startswith("crash"):
                yield Verification(
                    email=address.strip(),
                    normalized=address.strip().lower(),
                    result=Result.UNKNOWN,
                    reason=Reason.UNEXPECTED_ERROR,
                )
                continue
            yield fake_verdict(address)


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) until ``stop``."""

    def __init__(self, app: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._run, name="api-server", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # surfaced by start()/stop()
            self._error = exc

    def start(self) -> LiveServer:
        self._thread.start()
        while not self._server.started and self._thread.is_alive():
            time.sleep(0.01)
        if not self._server.started:
            self._sock.close()
            raise RuntimeError(f"the API server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(_START_TIMEOUT)
        self._sock.close()
        if self._error is not None:
            raise self._error


@dataclass
class Harness:
    """One running server, its settings, and ways to look into its database."""

    url: str
    settings: Settings
    config: ApiSettings
    engine: EngineVerifier | None
    db_url: str
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, **options: Any) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=30, trust_env=False, **options)
        self.clients.append(client)
        return client

    def run(self, action: Callable[[Store], Awaitable[T]]) -> T:
        """Run ``action`` on a store of its own over the server's database."""

        async def main() -> T:
            async with open_store(self.db_url) as store:
                return await action(store)

        return asyncio.run(main())

    def account(self, name: str = "acme", *, api: int = 1_000, monthly: int = 0) -> str:
        """A new account's token."""

        async def create(store: Store) -> str:
            _, token = await create_account(store, name, api_credits=api, monthly_credits=monthly)
            return token

        return self.run(create)

    def balances(self, name: str) -> tuple[int, int]:
        """(API, monthly) of an account, after checking the ledger adds up to them."""

        async def read(store: Store) -> tuple[int, int]:
            async with store.read() as session:
                account = (
                    await session.execute(select(Account).where(Account.name == name))
                ).scalar_one()
                assert await ledger_totals(session, account.id) == (
                    account.api_credits,
                    account.monthly_credits,
                )
            return account.api_credits, account.monthly_credits

        return self.run(read)

    def ledger(self, name: str) -> list[LedgerEntry]:
        async def read(store: Store) -> list[LedgerEntry]:
            query = (
                select(LedgerEntry)
                .join(Account, Account.id == LedgerEntry.account_id)
                .where(Account.name == name)
                .order_by(LedgerEntry.id)
            )
            async with store.read() as session:
                return list((await session.execute(query)).scalars())

        return self.run(read)

    def jobs(self) -> list[Job]:
        async def read(store: Store) -> list[Job]:
            async with store.read() as session:
                return list((await session.execute(select(Job).order_by(Job.id))).scalars())

        return self.run(read)


ServerFactory = Callable[..., Harness]


@pytest.fixture(scope="session")
def api_world() -> Iterator[MailWorld]:
    """A mail world of the API tests' own.

    Servers here run several engines at once (two servers, subprocesses), each with its own
    per-host caps; on the suite's shared world that would skew the counters its tests read.
    """
    world = MailWorld.standard().start()
    try:
        yield world
        totals = world.totals()
    finally:
        world.stop()
    assert totals["data_attempts"] == 0, "a mail server received DATA or BDAT"


def api_test_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir, "allow_private_targets": True}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers: ``make_server(engine=…, settings=…, workers=…, **api_settings)``.

    The engine is a ``FakeEngine`` unless given, or ``real_engine`` asks for the real one.
    """
    started: list[tuple[LiveServer, Harness]] = []

    def start(
        *,
        engine: EngineVerifier | None = None,
        real_engine: bool = False,
        settings: Settings | None = None,
        workers: int = 2,
        **config: Any,
    ) -> Harness:
        settings = settings or api_test_settings(tmp_path / "data")
        url = database_url(settings.database_url, settings.data_dir)
        upgrade(url)
        if not real_engine:
            engine = engine or FakeEngine()
        quick = {"callback_schedule": [0.05] * 5, "callback_poll_interval": 0.1}
        api_config = ApiSettings(**{**quick, **config})
        app = create_app(settings, api_config, verifier=engine, workers=workers)
        server = LiveServer(app).start()
        harness = Harness(server.url, settings, api_config, engine, url)
        started.append((server, harness))
        return harness

    yield start
    for server, harness in started:
        for client in harness.clients:
            client.close()
        server.stop()


@pytest.fixture
def server(make_server: ServerFactory) -> Harness:
    """A server with a fake engine and two workers."""
    return make_server()


def failing_active_jobs(message: str) -> Callable[[Store], Awaitable[None]]:
    """An action for ``Harness.run``: every job still queued or processing ends Failed."""

    async def fail(store: Store) -> None:
        async with store.write() as session:
            await session.execute(
                update(Job)
                .where(Job.stage.in_(ACTIVE_STAGES))
                .values(stage=JobStage.FAILED, message=message)
            )

    return fail
