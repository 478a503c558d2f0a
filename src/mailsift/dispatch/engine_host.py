"""Where a process's engine runs: on its own loop, or in a child process of its own.

The engine is the verifier (with its per-server caps and the domain memory) and the
dispatcher whose workers verify chunks with it. The real-time call and the workers share one
verifier, so the caps hold for both wherever it runs.

- ``LocalEngine``: on the loop of the caller (``mailsift worker``, tests with a fake engine).
- ``EngineProcess``: in a child process (``mailsift serve``). Verifying a list keeps a loop,
  and the interpreter lock, busy for long stretches; in the process that answers HTTP, every
  poll of ``/job_progress/`` would wait behind it. The child has a store of its own and talks
  to the server over a pipe; it dies with the server (``PR_SET_PDEATHSIG``, and the pipe's
  end as a fallback), and the server starts a new one if it dies alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from mailsift.dispatch.backend import Backend
from mailsift.dispatch.base import Dispatcher
from mailsift.jobs.realtime import OneAddressVerifier
from mailsift.jobs.runner import ChunkVerifier, OnCompleted
from mailsift.settings import Settings
from mailsift.store import database_url, open_store
from mailsift.store.engine import Store
from mailsift.verify.model import Verification

log = logging.getLogger(__name__)

_START_SECONDS = 60.0
_STOP_SECONDS = 30.0
_RESTART_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1


class EngineVerifier(ChunkVerifier, OneAddressVerifier, Protocol):
    """What a serving process needs of ``mailsift.verify.engine.Verifier``."""


class Engine(Protocol):
    """A process's engine, wherever it runs."""

    async def start(self, *, on_completed: OnCompleted | None = None) -> None:
        """Build it and start its workers; ``on_completed`` runs in this process when a
        job's last chunk is stored."""

    async def stop(self) -> None:
        """Stop the workers (a chunk they were running stays queued) and close."""

    async def verify_one(self, address: str, *, within: float | None = None) -> Verification:
        """The real-time verification of one address."""

    async def submit(self, job_id: int) -> None:
        """Tell the workers that ``job_id`` has chunks queued."""

    async def metrics(self) -> list[str]:
        """The Prometheus exposition of the processes the engine runs in besides this one."""


class EngineParts:
    """The verifier, the backend and the dispatcher, on the loop that opens them."""

    def __init__(self) -> None:
        self.store: Store | None = None
        self.backend: Backend | None = None
        self.verifier: EngineVerifier | None = None
        self.dispatcher: Dispatcher | None = None

    async def open(
        self,
        settings: Settings,
        *,
        verifier: EngineVerifier | None,
        workers: int,
        on_completed: OnCompleted | None,
    ) -> None:
        self.store = open_store(database_url(settings.database_url, settings.data_dir))
        self.backend = Backend(settings, self.store)
        self.verifier = verifier if verifier is not None else self.backend.verifier()
        dispatcher = self.backend.dispatcher(
            self.verifier, workers=workers, on_completed=on_completed
        )
        if dispatcher is not None:
            await dispatcher.start()
            self.dispatcher = dispatcher

    async def close(self) -> None:
        try:
            if self.dispatcher is not None:
                await self.dispatcher.stop()
        finally:
            if self.backend is not None:
                await self.backend.aclose()
            if self.store is not None:
                await self.store.close()

    async def verify_one(self, address: str, within: float | None) -> Verification:
        assert self.verifier is not None, "the engine is not started"
        return await self.verifier.verify_one(address, within=within)

    async def submit(self, job_id: int) -> None:
        if self.dispatcher is not None:
            await self.dispatcher.submit(job_id)


class LocalEngine:
    """The engine on the caller's loop; ``verifier`` replaces the process's own (tests)."""

    def __init__(
        self, settings: Settings, *, verifier: EngineVerifier | None = None, workers: int = 0
    ) -> None:
        self._settings = settings
        self._verifier = verifier
        self._workers = workers
        self._parts = EngineParts()

    async def start(self, *, on_completed: OnCompleted | None = None) -> None:
        await self._parts.open(
            self._settings,
            verifier=self._verifier,
            workers=self._workers,
            on_completed=on_completed,
        )

    async def stop(self) -> None:
        await self._parts.close()

    async def verify_one(self, address: str, *, within: float | None = None) -> Verification:
        return await self._parts.verify_one(address, within)

    async def submit(self, job_id: int) -> None:
        await self._parts.submit(job_id)

    async def metrics(self) -> list[str]:
        return []


class EngineStopped(RuntimeError):
    """The engine's process ended while a verification was waiting for it."""


class EngineProcess:
    """The engine in a child process; messages over a pipe are tuples, the first item
    saying what the rest are."""

    def __init__(self, settings: Settings, *, workers: int = 0) -> None:
        self._settings = settings
        self._workers = workers
        self._on_completed: OnCompleted | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._numbers = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready: asyncio.Future[None] | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._stopping = False

    async def start(self, *, on_completed: OnCompleted | None = None) -> None:
        self._on_completed = on_completed
        await self._spawn()

    async def stop(self) -> None:
        self._stopping = True
        process, conn = self._process, self._conn
        if process is None or conn is None:
            return
        self._stopped = asyncio.get_running_loop().create_future()
        with contextlib.suppress(OSError):
            conn.send(("stop",))
        with contextlib.suppress(TimeoutError, EngineStopped):
            await asyncio.wait_for(asyncio.shield(self._stopped), _STOP_SECONDS)
        await asyncio.to_thread(process.join, 5)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join)
        self._gone()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def verify_one(self, address: str, *, within: float | None = None) -> Verification:
        verification: Verification = await self._ask("verify", address, within)
        return verification

    async def submit(self, job_id: int) -> None:
        with contextlib.suppress(EngineStopped):  # the next engine finds the chunks queued
            self._send(("submit", job_id))

    async def metrics(self) -> list[str]:
        try:
            text: str = await asyncio.wait_for(self._ask("metrics"), 5)
        except (TimeoutError, EngineStopped):
            return []
        return [text]

    async def _spawn(self) -> None:
        loop = asyncio.get_running_loop()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=run_child,
            args=(child, self._settings, self._workers, os.getpid()),
            name="mailsift-engine",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        self._ready = loop.create_future()
        loop.add_reader(parent.fileno(), self._readable)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), _START_SECONDS)
        except BaseException:
            process.kill()
            self._gone()
            raise

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._conn is None:
            raise EngineStopped("the verification engine is not running")
        try:
            self._conn.send(message)
        except OSError as exc:
            raise EngineStopped("the verification engine is not running") from exc

    async def _ask(self, what: str, *args: Any) -> Any:
        number = next(self._numbers)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        try:
            self._send((what, number, *args))
            return await future
        except asyncio.CancelledError:
            with contextlib.suppress(EngineStopped):
                self._send(("cancel", number))
            raise
        finally:
            self._waiting.pop(number, None)

    def _readable(self) -> None:
        conn = self._conn
        assert conn is not None
        try:
            while conn.poll():
                self._heard(conn.recv())
        except (EOFError, OSError):
            self._gone()
            if not self._stopping:
                log.error("the verification engine's process ended; starting another")
                self._keep(self._respawn())

    def _heard(self, message: tuple[Any, ...]) -> None:
        what = message[0]
        if what == "ready":
            _resolve(self._ready, None)
        elif what == "failed":
            _fail(self._ready, RuntimeError(message[1]))
        elif what == "stopped":
            _resolve(self._stopped, None)
        elif what == "answer":
            _resolve(self._waiting.get(message[1]), message[2])
        elif what == "error":
            _fail(self._waiting.get(message[1]), RuntimeError(message[2]))
        elif what == "completed":
            self._keep(self._completed(message[1], message[2]))

    async def _completed(self, number: int, job_id: int) -> None:
        try:
            if self._on_completed is not None:
                await self._on_completed(job_id)
        finally:
            with contextlib.suppress(EngineStopped):
                self._send(("done", number))

    async def _respawn(self) -> None:
        await asyncio.sleep(_RESTART_SECONDS)
        if not self._stopping:
            try:
                await self._spawn()
            except Exception:
                log.exception("the verification engine did not start again")

    def _gone(self) -> None:
        """The child is gone: stop listening, fail whatever waited for it."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(conn.fileno())
            conn.close()
        stopped = EngineStopped("the verification engine stopped")
        for future in (*self._waiting.values(), self._ready, self._stopped):
            _fail(future, stopped)

    def _keep(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _resolve(future: asyncio.Future[Any] | None, value: Any) -> None:
    if future is not None and not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[Any] | None, exc: BaseException) -> None:
    if future is not None and not future.done():
        future.set_exception(exc)
        future.exception()  # read here: nobody may be waiting for it any more


# --- the child's side -----------------------------------------------------------------------


def run_child(
    conn: multiprocessing.connection.Connection, settings: Settings, workers: int, parent: int
) -> None:
    """The engine process's main function; ``parent``: the server's process id."""
    from mailsift.logs import configure_logging

    _die_with(parent)
    # Ctrl-C and a service manager's SIGTERM reach the server too: it stops us gracefully.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(settings.log_format, settings.log_level)
    asyncio.run(_Child(conn, settings, workers).run())


def _die_with(parent: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the server died before we could ask
        os._exit(1)


class _Child:
    def __init__(
        self, conn: multiprocessing.connection.Connection, settings: Settings, workers: int
    ) -> None:
        self._conn = conn
        self._settings = settings
        self._workers = workers
        self._parts = EngineParts()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._completions: dict[int, asyncio.Future[None]] = {}
        self._numbers = itertools.count()
        self._stop = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self._conn.fileno(), self._readable)
        try:
            await self._parts.open(
                self._settings,
                verifier=None,
                workers=self._workers,
                on_completed=self._completed,
            )
        except Exception as exc:
            log.exception("the verification engine did not start")
            self._conn.send(("failed", f"the verification engine did not start: {exc}"))
            return
        self._conn.send(("ready",))
        await self._stop.wait()
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        await self._parts.close()
        self._conn.send(("stopped",))

    def _readable(self) -> None:
        try:
            while self._conn.poll():
                self._heard(self._conn.recv())
        except (EOFError, OSError):
            os._exit(1)  # the server is gone: so are we, as if killed with it

    def _heard(self, message: tuple[Any, ...]) -> None:
        what = message[0]
        if what == "verify":
            self._answer(message[1], lambda: self._parts.verify_one(message[2], message[3]))
        elif what == "metrics":
            self._answer(message[1], self._metrics)
        elif what == "cancel":
            task = self._running.get(message[1])
            if task is not None:
                task.cancel()
        elif what == "submit":
            self._answer(None, lambda: self._parts.submit(message[1]))
        elif what == "done":
            _resolve(self._completions.pop(message[1], None), None)
        elif what == "stop":
            self._stop.set()

    def _answer(self, number: int | None, work: Callable[[], Awaitable[Any]]) -> None:
        # The server numbers its questions from 0; what it only tells us gets our own numbers.
        key = -1 - next(self._numbers) if number is None else number

        async def run() -> None:
            try:
                value = await work()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if number is None:
                    log.exception("engine request failed")
                else:
                    self._conn.send(("error", number, f"{type(exc).__name__}: {exc}"))
            else:
                if number is not None:
                    self._conn.send(("answer", number, value))
            finally:
                self._running.pop(key, None)

        self._running[key] = asyncio.ensure_future(run())

    async def _metrics(self) -> str:
        from mailsift.metrics import render

        return render().decode()

    async def _completed(self, job_id: int) -> None:
        """The server's ``on_completed`` for ``job_id``, awaited."""
        number = next(self._numbers)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._completions[number] = future
        self._conn.send(("completed", number, job_id))
        await future
