"""A queue of recipients per mail server, drained by at most N polite workers.

Each server (one IP address) gets at most ``max_connections_per_host`` sessions at a time,
each under the process-wide (or cluster-wide) ``HostLimiter`` slot and the global session
cap. A server that cannot be talked to is skipped for the retry interval and its recipients
fail over to the domain's next MX; a server that asked for a pause has its recipients
requeued for after it, and nothing else is held up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING

from mailsift.verify.conversation import Conversation
from mailsift.verify.errors import ProbeError, ServerBusy, SessionRefused, Stage
from mailsift.verify.run_state import HostQueue, Item
from mailsift.verify.verdict import RcptClass, classify_rcpt

if TYPE_CHECKING:
    from mailsift.verify.budgets import LoopLag
    from mailsift.verify.engine import Verifier
    from mailsift.verify.retries import RetryTimers
    from mailsift.verify.settling import Settler

log = logging.getLogger(__name__)


class HostQueues:
    def __init__(
        self,
        verifier: Verifier,
        loop: asyncio.AbstractEventLoop,
        *,
        settler: Settler,
        retries: RetryTimers,
        lag: LoopLag,
        spawn: Callable[[Coroutine[object, object, None]], None],
    ) -> None:
        self.verifier = verifier
        self.options = verifier.options
        self.manners = verifier.manners
        self.loop = loop
        self.settler = settler
        self.retries = retries
        self.lag = lag
        self._spawn = spawn
        self._hosts: dict[str, HostQueue] = {}

    def enqueue(self, item: Item, *, front: bool = False) -> None:
        """Queue ``item`` for its current endpoint, or the next one that is not down."""
        now = self.loop.time()
        endpoints = item.domain.endpoints
        while item.endpoint_index < len(endpoints):
            host = self._host(endpoints[item.endpoint_index].address)
            if host.down_until <= now:
                break
            item.inherit(host.down_because)
            item.endpoint_index += 1
        else:
            item.endpoint_index = len(endpoints) - 1
            self.retries.later(item)
            return
        if front:
            host.pending.appendleft(item)
        else:
            host.pending.append(item)
        if host.workers < self.options.max_connections_per_host:
            host.workers += 1
            self._spawn(self._worker(host))

    def _host(self, key: str) -> HostQueue:
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = HostQueue(key)
        return host

    async def _worker(self, host: HostQueue) -> None:
        v = self.verifier
        try:
            while host.pending and host.down_until <= self.loop.time():
                pause = self.manners.paused_for(host.key)
                if pause:
                    self.postpone(host, pause)
                    return
                # The host's slot first: waiting for it must not hold a global one.
                async with v.limiter.slot(host.key), v.sessions:
                    if not host.pending:
                        return
                    await self._one_session(host)
        except Exception as exc:  # never strand queued addresses behind a bug
            log.exception("worker for %s failed", host.key)
            while host.pending:
                item = host.pending.popleft()
                item.domain.in_flight -= 1
                self.settler.unexpected(item, exc)
        finally:
            host.workers -= 1

    async def _one_session(self, host: HostQueue) -> None:
        endpoint = host.pending[0].endpoint
        try:
            session = await self.verifier.connector.open(endpoint, self.verifier.session_options())
        except ProbeError as exc:
            self.host_failed(host, exc)
            return
        try:
            await Conversation(self, host, session).run()
        finally:
            await session.close()

    # --- when a server fails or asks for room ---------------------------------------------

    def host_failed(self, host: HostQueue, failure: ProbeError) -> None:
        """The server could not be talked to: every recipient queued for it moves on."""
        if isinstance(failure, SessionRefused) and failure.reply.is_permanent:
            # A 5xx greeting is the server's final word for this client: no failover.
            while host.pending:
                item = host.pending.popleft()
                item.heard(failure)
                item.mx_host = item.endpoint.mx_host
                self.settler.answer(item)
            return
        if isinstance(failure, SessionRefused):
            self.pause(host, failure)
        host.down_until = self.loop.time() + self.options.greylist_retry_after
        host.down_because = failure
        while host.pending:
            self.fail_over(host.pending.popleft(), failure)

    def fail_over(self, item: Item, failure: ProbeError) -> None:
        """Try the next MX (or address); after the last one, the failure is the answer."""
        item.heard(failure)
        item.mx_host = item.endpoint.mx_host
        if item.endpoint_index + 1 < len(item.domain.endpoints):
            item.endpoint_index += 1
            self.enqueue(item)
        elif isinstance(failure, SessionRefused) and failure.reply.is_transient:
            self.retries.later(item)
        else:
            self.settler.answer(item)

    def mail_refused(self, host: HostQueue, batch: list[Item], exc: SessionRefused) -> None:
        """MAIL FROM was refused: the batch's recipients were never asked."""
        for item in batch:
            item.heard(exc)
            item.mx_host = item.endpoint.mx_host
        if not exc.reply.is_transient:
            for item in batch:
                self.settler.answer(item)
            return
        after = None
        if classify_rcpt(exc.reply) is RcptClass.RATE_LIMITED:
            after = self.pause(host, exc)
        for item in batch:
            self.retries.later(item, after=after)

    def pause(self, host: HostQueue, because: ProbeError) -> float:
        """Leave the server alone for ``host_pause`` seconds (its queue waits, no one else)."""
        seconds = self.options.host_pause
        self.manners.pause(host.key, seconds)
        host.paused_because = because
        return seconds

    def postpone(self, host: HostQueue, seconds: float) -> None:
        """The server is paused: its recipients are asked again after the pause."""
        because = host.paused_because or ServerBusy(
            Stage.CONNECT, "the server asked for a pause and was not asked again in time"
        )
        while host.pending:
            item = host.pending.popleft()
            item.inherit(because)
            self.retries.later(item, after=seconds)
