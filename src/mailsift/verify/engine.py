"""The engine's front door: a ``Verifier`` shared by a process, and one run per list.

A run plans (``planning``: group by domain, resolve, endpoints), queues recipients per
server (``host_queues``, each session a ``conversation`` within its ``budgets``), waits on
``retries`` for greylisted answers, and writes results out as they settle (``settling``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Iterable

from mailsift.verify.budgets import LoopLag
from mailsift.verify.connector import SmtpConnector, SocketConnector
from mailsift.verify.dns import DnsResolver, Resolver
from mailsift.verify.errors import ProbeTimeout, Stage
from mailsift.verify.host_queues import HostQueues
from mailsift.verify.limits import HostLimiter, HostManners, LocalHostLimiter
from mailsift.verify.model import Verification
from mailsift.verify.options import EngineOptions
from mailsift.verify.planning import Planner, group_by_domain, parsed_or_none
from mailsift.verify.retries import RetryTimers
from mailsift.verify.run_state import Item
from mailsift.verify.session import SessionOptions
from mailsift.verify.settling import Settler, verification_of
from mailsift.verify.verdict import Evidence, judge

log = logging.getLogger(__name__)

_GOODBYE_SECONDS = 3.0


class Verifier:
    """Verifies addresses; one instance is shared by everything in a process.

    It holds what must be shared to be polite and fast: the DNS cache, the per-server
    connection caps, each server's manners, and the accept-all findings per domain.
    ``connector`` is how sessions are opened (``testing.ScriptedConnector`` in tests).
    """

    def __init__(
        self,
        options: EngineOptions,
        *,
        resolver: Resolver | None = None,
        limiter: HostLimiter | None = None,
        connector: SmtpConnector | None = None,
    ) -> None:
        self.options = options
        self.resolver = resolver or DnsResolver(
            list(options.dns_nameservers),
            timeout=options.dns_timeout,
            cache_size=options.dns_cache_size,
        )
        self.limiter = limiter or LocalHostLimiter(options.max_connections_per_host)
        self.connector = connector or SocketConnector()
        self.manners = HostManners()
        self.sessions = asyncio.Semaphore(options.max_concurrency)
        self._accept_all: dict[str, tuple[bool, float]] = {}
        self._proxies = itertools.cycle(options.proxies) if options.proxies else None

    async def verify_one(self, address: str, *, within: float | None = None) -> Verification:
        """One address, answered within ``within`` seconds (unknown/timeout past it)."""
        deadline = within if within is not None else self.options.greylist_deadline
        try:
            async with asyncio.timeout(within):
                async for verification in self.verify_many([address], deadline=deadline):
                    return verification
        except TimeoutError:
            pass
        late = ProbeTimeout(Stage.CONNECT, f"no answer within {within} s")
        result, reason = judge(Evidence(failure=late))
        return verification_of(
            address.strip(), parsed_or_none(address), result, reason, message=late.detail
        )

    async def verify_many(
        self,
        addresses: Iterable[str],
        *,
        deadline: float | None = None,
        defer_retries: bool = False,
    ) -> AsyncIterator[Verification]:
        """Yield one verification per input (``email`` is the input trimmed), as they finish.

        4xx answers are asked again after ``greylist_retry_after`` seconds until ``deadline``
        seconds (default ``greylist_deadline``) have passed. With ``defer_retries`` the engine
        does not wait: such an address is yielded at once as a provisional answer whose
        ``retry_after`` says when to ask again (a job queue schedules that for later).
        """
        run = _Run(
            self,
            deadline if deadline is not None else self.options.greylist_deadline,
            defer=defer_retries,
        )
        async for verification in run.execute(addresses):
            yield verification

    # --- shared findings ---------------------------------------------------------------------

    def known_accept_all(self, domain: str) -> bool | None:
        found = self._accept_all.get(domain)
        if found is None:
            return None
        accept_all, expires = found
        if expires < time.monotonic():
            del self._accept_all[domain]
            return None
        return accept_all

    def remember_accept_all(self, domain: str, accept_all: bool) -> None:
        self._accept_all[domain] = (accept_all, time.monotonic() + self.options.domain_cache_ttl)

    def session_options(self) -> SessionOptions:
        o = self.options
        return SessionOptions(
            helo_name=o.helo_name,
            connect_timeout=o.connect_timeout,
            command_timeout=o.command_timeout,
            starttls=o.starttls,
            tls_verify=o.tls_verify,
            proxy_url=next(self._proxies) if self._proxies else None,
            allow_private=o.allow_private_targets,
        )


class _Run:
    """One ``verify_many`` call: its parts wired together, its tasks, its output."""

    def __init__(self, verifier: Verifier, deadline: float, *, defer: bool) -> None:
        options = verifier.options
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task[None]] = set()
        self.settler = Settler(verifier.remember_accept_all, options.greylist_retry_after)
        self.retries = RetryTimers(
            self.loop,
            deadline=self.loop.time() + deadline,
            retry_after=options.greylist_retry_after,
            defer=defer,
            settler=self.settler,
            requeue=self._requeue,
        )
        self.lag = LoopLag(self.loop)
        self.queues = HostQueues(
            verifier,
            self.loop,
            settler=self.settler,
            retries=self.retries,
            lag=self.lag,
            spawn=self.spawn,
        )
        self.planner = Planner(verifier, self.settler, self.queues.enqueue)

    def _requeue(self, item: Item) -> None:
        self.queues.enqueue(item)

    async def execute(self, addresses: Iterable[str]) -> AsyncIterator[Verification]:
        expected, by_domain = group_by_domain(addresses, self.settler.syntax_problem)
        self.lag.start()
        for domain, items in by_domain.values():
            self.spawn(self.planner.start_domain(domain, items))
        del by_domain
        out = self.settler.out
        try:
            for _ in range(expected):
                yield await out.get()
            if self.tasks:  # sessions still saying QUIT: let them finish politely
                await asyncio.wait(set(self.tasks), timeout=_GOODBYE_SECONDS)
        finally:
            self.lag.stop()
            self.retries.closed = True
            for task in self.tasks:
                task.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("engine task failed", exc_info=task.exception())
