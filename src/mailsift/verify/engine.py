"""The planner: many addresses in, verifications out as they finish.

Addresses are grouped by domain, domains resolved to mail servers, and recipients queued per
server (by IP address). Each server gets at most ``max_connections_per_host`` sessions at a
time and at most ``max_rcpt_per_session`` recipients per session; a never-issued local part
is asked once per domain to detect accept-all servers. Greylisted recipients wait on a timer
rather than holding a connection, so other work goes on meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from mailsift.settings import Settings
from mailsift.verify.address import ParsedAddress, SyntaxProblem, parse_address
from mailsift.verify.dns import DnsResolver, MailRoute, Resolver, RouteStatus
from mailsift.verify.errors import ProbeError, SessionRefused, Stage
from mailsift.verify.limits import HostLimiter, HostManners, LocalHostLimiter
from mailsift.verify.memory import DomainFindings, DomainMemory, NoMemory
from mailsift.verify.model import Reason, Result, Verification
from mailsift.verify.session import Endpoint, RcptInterrupted, SessionOptions, SmtpSession
from mailsift.verify.smtp import Reply
from mailsift.verify.verdict import Evidence, RcptClass, classify_rcpt, judge

log = logging.getLogger(__name__)

_ADDRESSES_PER_HOST = 2  # failover across a host's IPs, but not through dozens of them
_MAX_ENDPOINTS = 6
_DNS_CONCURRENCY = 64
_GOODBYE_SECONDS = 3.0
_RECALL_BATCH = 500
# Routes that say "ask DNS again": a failure is no finding.
_PASSING_STATUSES = (RouteStatus.DNS_ERROR, RouteStatus.DNS_TIMEOUT)


def never_issued_local_part(domain: str, sender: str) -> str:
    """A local part no one was ever given, the same for a domain all month long.

    Stable so that a greylisting server, which remembers (client, sender, recipient), lets
    the retry through, whichever worker makes it.
    """
    month = datetime.now(UTC).strftime("%Y%m")
    digest = hashlib.sha256(f"{sender}|{domain}|{month}".encode()).hexdigest()
    return "x" + digest[:19]


@dataclass(eq=False)
class _Domain:
    name: str
    route: MailRoute | None = None
    endpoints: tuple[Endpoint, ...] = ()
    accept_all: bool | None = None
    probe: _Item | None = None
    accepted_any: bool = False
    probe_deferred: bool = False  # the accept-all probe will be asked again later
    greylisting: bool = False  # a server of it answered 4xx in this run
    in_flight: int = 0  # items (probe included) still being asked about
    parked: list[_Item] = field(default_factory=list)  # answered, waiting on the domain


@dataclass(eq=False)
class _Item:
    domain: _Domain
    recipient: str  # what RCPT TO carries
    address: ParsedAddress | None  # None for the accept-all probe
    givens: list[str] = field(default_factory=list)
    endpoint_index: int = 0
    rcpt: Reply | None = None
    failure: ProbeError | None = None
    transient: Reply | None = None  # the last 4xx, while retrying
    mx_host: str = ""
    smtputf8_missing: bool = False
    greylisted: bool = False  # answered 4xx before its final word

    @property
    def is_probe(self) -> bool:
        return self.address is None

    @property
    def endpoint(self) -> Endpoint:
        return self.domain.endpoints[self.endpoint_index]


@dataclass(eq=False)
class _HostQueue:
    key: str
    pending: deque[_Item] = field(default_factory=deque)
    workers: int = 0
    down_until: float = 0.0
    down_because: ProbeError | None = None


class Verifier:
    """Verifies addresses; one instance is shared by everything in a process.

    It holds what must be shared to be polite and fast: the DNS cache, the per-server
    connection caps, each server's manners, and the accept-all findings per domain.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        resolver: Resolver | None = None,
        limiter: HostLimiter | None = None,
        memory: DomainMemory | None = None,
    ) -> None:
        self.settings = settings
        # Findings kept beyond this process (and this instance): routes, accept-all, limits.
        self.memory: DomainMemory = memory or NoMemory()
        self._caps_recalled: set[str] = set()
        self.resolver = resolver or DnsResolver(
            settings.dns_nameservers,
            timeout=settings.dns_timeout,
            cache_size=settings.dns_cache_size,
        )
        self.limiter = limiter or LocalHostLimiter(settings.max_connections_per_host)
        self.manners = HostManners()
        self.sessions = asyncio.Semaphore(settings.max_concurrency)
        self._accept_all: dict[str, tuple[bool, float]] = {}
        self._proxies = itertools.cycle(settings.proxies) if settings.proxies else None

    async def verify_one(self, address: str, *, within: float | None = None) -> Verification:
        """One address, answered within ``within`` seconds (unknown/timeout past it)."""
        deadline = within if within is not None else self.settings.greylist_deadline
        try:
            async with asyncio.timeout(within):
                async for verification in self.verify_many([address], deadline=deadline):
                    return verification
        except TimeoutError:
            pass
        parsed = parse_address(address)
        return _verification(
            address.strip(),
            parsed if isinstance(parsed, ParsedAddress) else None,
            Result.UNKNOWN,
            Reason.TIMEOUT,
            message=f"no answer within {within} s",
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
            deadline if deadline is not None else self.settings.greylist_deadline,
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

    def remember_accept_all(self, domain: str, accept_all: bool, *, learnt: bool = True) -> None:
        """Note a domain's accept-all answer (``learnt``: found just now, so kept for others)."""
        self._accept_all[domain] = (accept_all, time.monotonic() + self.settings.domain_cache_ttl)
        if learnt:
            self.memory.remember(domain, accept_all=accept_all)

    async def recall_rcpt_caps(self, hosts: Iterable[str]) -> None:
        """Start with the recipient caps other runs learnt of these servers."""
        fresh = [host for host in hosts if host not in self._caps_recalled]
        if not fresh:
            return
        self._caps_recalled.update(fresh)
        try:
            caps = await self.memory.recall_rcpt_caps(fresh)
        except Exception:  # the memory is an optimisation: never a reason to fail
            log.exception("recalling recipient caps failed")
            return
        for host, cap in caps.items():
            self.manners.lower_rcpt_cap(host, cap)

    def session_options(self) -> SessionOptions:
        s = self.settings
        return SessionOptions(
            helo_name=s.helo_name,
            connect_timeout=s.connect_timeout,
            command_timeout=s.command_timeout,
            starttls=s.starttls,
            tls_verify=s.tls_verify,
            proxy_url=next(self._proxies) if self._proxies else None,
            allow_private=s.allow_private_targets,
        )


class _Run:
    """One ``verify_many`` call: its queues, timers and output."""

    def __init__(self, verifier: Verifier, deadline: float, *, defer: bool) -> None:
        self.v = verifier
        self.defer = defer
        self.s = verifier.settings
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + deadline
        self.out: asyncio.Queue[Verification] = asyncio.Queue()
        self.hosts: dict[str, _HostQueue] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        self.dns_slots = asyncio.Semaphore(_DNS_CONCURRENCY)
        self.recalled: dict[str, DomainFindings] = {}

    async def execute(self, addresses: Iterable[str]) -> AsyncIterator[Verification]:
        expected = 0
        domains: dict[str, _Domain] = {}
        items: dict[str, _Item] = {}
        for text in addresses:
            expected += 1
            parsed = parse_address(text)
            if isinstance(parsed, SyntaxProblem):
                self.out.put_nowait(_syntax_verdict(parsed))
                continue
            item = items.get(parsed.normalized)
            if item is None:
                domain = domains.get(parsed.domain)
                if domain is None:
                    domain = domains[parsed.domain] = _Domain(parsed.domain)
                item = items[parsed.normalized] = _Item(domain, parsed.normalized, parsed)
            item.givens.append(parsed.given)
        by_domain: dict[str, list[_Item]] = {}
        for item in items.values():
            by_domain.setdefault(item.domain.name, []).append(item)
        del items
        await self.recall(list(by_domain))
        for name, domain_items in by_domain.items():
            self.spawn(self.start_domain(domains[name], domain_items))
        try:
            for _ in range(expected):
                yield await self.out.get()
            if self.tasks:  # sessions still saying QUIT: let them finish politely
                await asyncio.wait(set(self.tasks), timeout=_GOODBYE_SECONDS)
        finally:
            self.closed = True
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

    # --- domains -------------------------------------------------------------------------------

    async def recall(self, domains: list[str]) -> None:
        """What the memory knows of the run's domains (nothing, if it fails)."""
        try:
            for start in range(0, len(domains), _RECALL_BATCH):
                found = await self.v.memory.recall(domains[start : start + _RECALL_BATCH])
                self.recalled.update(found)
        except Exception:
            log.exception("recalling domain findings failed")

    async def start_domain(self, domain: _Domain, items: list[_Item]) -> None:
        try:
            found = self.recalled.get(domain.name)
            known = self.v.known_accept_all(domain.name)
            if found is not None and found.accept_all is not None and known is None:
                self.v.remember_accept_all(domain.name, found.accept_all, learnt=False)
            if found is not None and found.route is not None:
                domain.route = found.route
            else:
                async with self.dns_slots:
                    domain.route = await self.v.resolver.mail_route(domain.name)
                if domain.route.status not in _PASSING_STATUSES:
                    self.v.memory.remember(domain.name, route=domain.route)
            if domain.route.status is RouteStatus.OK:
                endpoints = _endpoints(domain.route, self.s.smtp_port)
                await self.v.recall_rcpt_caps(endpoint.address for endpoint in endpoints)
            self.plan_domain(domain, items)
        except Exception as exc:  # never lose an address to a bug
            log.exception("planning %s failed", domain.name)
            for item in items:
                if item.givens:
                    self.emit(item, Result.UNKNOWN, Reason.UNEXPECTED_ERROR, message=str(exc))

    def plan_domain(self, domain: _Domain, items: list[_Item]) -> None:
        route = domain.route
        assert route is not None
        first_address = items[0].address
        assert first_address is not None
        if route.status is not RouteStatus.OK or first_address.disposable:
            for item in items:
                self.finish(item, Evidence(route=route.status, disposable=first_address.disposable))
            return
        domain.endpoints = _endpoints(route, self.s.smtp_port)
        if not domain.endpoints:
            for item in items:
                self.emit(item, Result.UNKNOWN, Reason.NO_CONNECT, message=route.detail)
            return
        domain.accept_all = self.v.known_accept_all(domain.name)
        if domain.accept_all is None:
            local_part = never_issued_local_part(domain.name, self.s.envelope_sender)
            probe = _Item(domain, f"{local_part}@{domain.name}", None)
            domain.probe = probe
            items = [probe, *items]
        domain.in_flight = len(items)
        for item in items:
            self.enqueue(item)

    # --- queues and workers ----------------------------------------------------------------------

    def enqueue(self, item: _Item, *, front: bool = False) -> None:
        now = self.loop.time()
        endpoints = item.domain.endpoints
        while item.endpoint_index < len(endpoints):
            host = self.host(endpoints[item.endpoint_index].address)
            if host.down_until <= now:
                break
            item.failure = host.down_because
            item.endpoint_index += 1
        else:
            item.endpoint_index = len(endpoints) - 1
            self.retry_later(item)
            return
        if front:
            host.pending.appendleft(item)
        else:
            host.pending.append(item)
        if host.workers < self.s.max_connections_per_host:
            host.workers += 1
            self.spawn(self.host_worker(host))

    def host(self, key: str) -> _HostQueue:
        host = self.hosts.get(key)
        if host is None:
            host = self.hosts[key] = _HostQueue(key)
        return host

    async def host_worker(self, host: _HostQueue) -> None:
        try:
            while host.pending and host.down_until <= self.loop.time():
                pause = self.v.manners.paused_for(host.key)
                if pause:
                    self.postpone_host(host, pause)
                    return
                # The host's slot first: waiting for it must not hold a global one.
                async with self.v.limiter.slot(host.key), self.v.sessions:
                    if not host.pending:
                        return
                    await self.one_session(host)
        except Exception as exc:  # never strand queued addresses behind a bug
            log.exception("worker for %s failed", host.key)
            while host.pending:
                item = host.pending.popleft()
                item.domain.in_flight -= 1
                self.emit(item, Result.UNKNOWN, Reason.UNEXPECTED_ERROR, message=str(exc))
        finally:
            host.workers -= 1

    async def one_session(self, host: _HostQueue) -> None:
        endpoint = host.pending[0].endpoint
        try:
            session = await SmtpSession.open(endpoint, self.v.session_options())
        except ProbeError as exc:
            self.host_failed(host, exc)
            return
        taken: list[_Item] = []
        try:
            await self.converse(host, session, taken)
        except RcptInterrupted as exc:
            self.v.manners.pause(host.key, self.s.host_pause)
            self.requeue_unanswered(host, taken, exc)
        except ProbeError as exc:
            for item in taken:
                self.fail_over(item, exc)
        except Exception as exc:
            log.exception("session with %s failed", endpoint.address)
            for item in taken:
                self.emit(item, Result.UNKNOWN, Reason.UNEXPECTED_ERROR, message=str(exc))
        finally:
            await session.close()

    async def converse(self, host: _HostQueue, session: SmtpSession, taken: list[_Item]) -> None:
        """Transactions on one session until its recipient budget or the queue runs out."""
        budget = self.v.manners.rcpt_cap(host.key, self.s.max_rcpt_per_session)
        used = 0
        while used < budget and host.pending and session.is_open:
            batch = self.take(host, session, budget - used)
            if not batch:
                continue
            taken[:] = batch
            smtputf8 = session.supports_smtputf8 and any(
                item.address is not None and item.address.needs_smtputf8 for item in batch
            )
            last = used + len(batch) >= budget or not host.pending
            try:
                _, replies = await session.probe(
                    self.s.envelope_sender,
                    [item.recipient for item in batch],
                    smtputf8=smtputf8,
                    reset_first=used > 0,
                    then_quit=last,
                )
            except SessionRefused as exc:
                if exc.stage is not Stage.MAIL:
                    raise
                taken.clear()
                self.mail_refused(host, batch, exc)
                return
            taken.clear()
            used += len(batch)
            if not self.answered(host, session.endpoint, batch, replies, used):
                return

    def take(self, host: _HostQueue, session: SmtpSession, room: int) -> list[_Item]:
        batch: list[_Item] = []
        while host.pending and len(batch) < room:
            item = host.pending.popleft()
            needs_smtputf8 = item.address is not None and item.address.needs_smtputf8
            if needs_smtputf8 and not session.supports_smtputf8:
                item.smtputf8_missing = True
                item.mx_host = session.endpoint.mx_host
                self.answer(item)
                continue
            batch.append(item)
        return batch

    def answered(
        self,
        host: _HostQueue,
        endpoint: Endpoint,
        batch: list[_Item],
        replies: list[Reply],
        used: int,
    ) -> bool:
        """File each RCPT reply; False when the server asked us to send fewer recipients."""
        keep_going = True
        for position, (item, reply) in enumerate(zip(batch, replies, strict=True)):
            kind = classify_rcpt(reply)
            item.mx_host = endpoint.mx_host
            if kind is RcptClass.TOO_MANY:
                if keep_going:
                    accepted_before = used - len(batch) + position
                    self.v.manners.lower_rcpt_cap(host.key, max(1, accepted_before))
                    cap = self.v.manners.rcpt_cap(host.key, self.s.max_rcpt_per_session)
                    self.v.memory.remember_rcpt_cap(host.key, cap)
                host.pending.appendleft(item)
                keep_going = False
            elif kind is RcptClass.TRANSIENT:
                item.transient = reply
                self.saw_greylisting(item)
                self.retry_later(item)
            else:
                item.rcpt = reply
                self.answer(item)
        return keep_going

    # --- failures --------------------------------------------------------------------------------

    def host_failed(self, host: _HostQueue, failure: ProbeError) -> None:
        """The server could not be talked to: every recipient queued for it moves on."""
        if isinstance(failure, SessionRefused) and failure.reply.is_permanent:
            # A 5xx greeting is the server's final word for this client: no failover.
            while host.pending:
                item = host.pending.popleft()
                item.failure = failure
                item.mx_host = item.endpoint.mx_host
                self.answer(item)
            return
        if isinstance(failure, SessionRefused):
            self.v.manners.pause(host.key, self.s.host_pause)
        host.down_until = self.loop.time() + self.s.greylist_retry_after
        host.down_because = failure
        while host.pending:
            self.fail_over(host.pending.popleft(), failure)

    def fail_over(self, item: _Item, failure: ProbeError) -> None:
        """Try the next MX (or address); after the last one, the failure is the answer."""
        item.failure = failure
        item.mx_host = item.endpoint.mx_host
        if item.endpoint_index + 1 < len(item.domain.endpoints):
            item.endpoint_index += 1
            self.enqueue(item)
        elif isinstance(failure, SessionRefused) and failure.reply.is_transient:
            item.transient = failure.reply
            self.retry_later(item)
        else:
            self.answer(item)

    def mail_refused(self, host: _HostQueue, batch: list[_Item], exc: SessionRefused) -> None:
        if exc.reply.is_transient:
            for item in batch:
                item.transient = exc.reply
                self.retry_later(item)
            return
        for item in batch:
            item.failure = exc
            item.mx_host = item.endpoint.mx_host
            self.answer(item)

    def requeue_unanswered(
        self, host: _HostQueue, batch: list[_Item], exc: RcptInterrupted
    ) -> None:
        endpoint = batch[0].endpoint if batch else None
        if endpoint is not None:
            self.answered(host, endpoint, batch[: len(exc.answered)], list(exc.answered), 0)
        for item in batch[len(exc.answered) :]:
            item.transient = exc.reply
            self.retry_later(item)

    def saw_greylisting(self, item: _Item) -> None:
        item.greylisted = True
        if not item.domain.greylisting:
            item.domain.greylisting = True
            self.v.memory.remember(item.domain.name, greylisting=True)

    def postpone_host(self, host: _HostQueue, seconds: float) -> None:
        while host.pending:
            item = host.pending.popleft()
            self.retry_later(item, after=seconds)

    def retry_later(self, item: _Item, *, after: float | None = None) -> None:
        delay = max(after or 0.0, self.s.greylist_retry_after)
        if self.loop.time() + delay > self.deadline:
            if item.transient is not None and item.failure is None:
                item.rcpt = item.transient
            self.answer(item)
            return
        item.endpoint_index = 0
        if self.defer:
            self.defer_item(item, delay)
            return
        self.loop.call_later(delay, self._retry_now, item)

    def defer_item(self, item: _Item, delay: float) -> None:
        """Hand the retry to the caller: a provisional answer now, ask again after ``delay``."""
        domain = item.domain
        domain.in_flight -= 1
        if item.is_probe:
            domain.probe_deferred = True
        else:
            reply = item.transient
            self.emit(
                item,
                Result.UNKNOWN,
                Reason.UNAVAILABLE_SMTP,
                message=reply.text if reply else (item.failure.detail if item.failure else ""),
                code=reply.code if reply else None,
                retry_after=delay,
            )
        self.release_parked(domain)

    def _retry_now(self, item: _Item) -> None:
        if self.closed:
            return
        item.transient = None
        item.failure = None
        self.enqueue(item)

    # --- answers ---------------------------------------------------------------------------------

    def answer(self, item: _Item) -> None:
        """An item has all the evidence it will get; settle it once its domain allows."""
        domain = item.domain
        domain.in_flight -= 1
        if item.is_probe:
            kind = classify_rcpt(item.rcpt) if item.rcpt is not None else None
            if kind not in (None, RcptClass.TRANSIENT, RcptClass.TOO_MANY):
                domain.accept_all = kind is RcptClass.ACCEPTED
                self.v.remember_accept_all(domain.name, domain.accept_all)
        else:
            if item.rcpt is not None and item.rcpt.is_positive:
                domain.accepted_any = True
            if self.must_wait(item):
                domain.parked.append(item)
            else:
                self.finish(item, self.evidence(item))
        self.release_parked(domain)

    def must_wait(self, item: _Item) -> bool:
        domain = item.domain
        if item.rcpt is None or not domain.in_flight:
            return False
        if item.rcpt.is_positive:
            return domain.accept_all is None
        return item.rcpt.code == 550 and classify_rcpt(item.rcpt) is RcptClass.AMBIGUOUS

    def release_parked(self, domain: _Domain) -> None:
        still: list[_Item] = []
        for item in domain.parked:
            if self.must_wait(item):
                still.append(item)
            else:
                self.finish(item, self.evidence(item))
        domain.parked = still

    def evidence(self, item: _Item) -> Evidence:
        domain = item.domain
        return Evidence(
            route=domain.route.status if domain.route else None,
            rcpt=item.rcpt,
            failure=item.failure,
            accept_all=domain.accept_all,
            server_accepts_others=domain.accepted_any,
            smtputf8_missing=item.smtputf8_missing,
        )

    def finish(self, item: _Item, evidence: Evidence) -> None:
        accepted = item.rcpt is not None and item.rcpt.is_positive
        if accepted and item.domain.probe_deferred and evidence.accept_all is None:
            # Accepted, but is the domain accept-all? Both are asked again later.
            self.emit(
                item,
                Result.UNKNOWN,
                Reason.UNAVAILABLE_SMTP,
                message="waiting to learn whether the domain accepts every address",
                retry_after=self.s.greylist_retry_after,
            )
            return
        result, reason = judge(evidence)
        reply = item.rcpt or (
            item.failure.reply if isinstance(item.failure, SessionRefused) else None
        )
        if item.smtputf8_missing:
            message = "the mail server does not support SMTPUTF8 (RFC 6531)"
        elif reply is not None:
            message = reply.text
        elif item.failure is not None:
            message = item.failure.detail
        elif item.domain.route is not None:
            message = item.domain.route.detail
        else:
            message = ""
        self.emit(
            item,
            result,
            reason,
            message=message,
            code=reply.code if reply else None,
            accept_all=bool(item.domain.accept_all) and result is Result.RISKY,
        )

    def emit(
        self,
        item: _Item,
        result: Result,
        reason: Reason,
        *,
        message: str = "",
        code: int | None = None,
        accept_all: bool = False,
        retry_after: float | None = None,
    ) -> None:
        mx_host = item.mx_host or _first_mx(item.domain.route)
        for given in item.givens:
            verification = _verification(
                given,
                item.address,
                result,
                reason,
                message=message,
                code=code,
                mx_host=mx_host,
                accept_all=accept_all,
                greylisted=item.greylisted,
            )
            if retry_after is not None:
                verification = replace(verification, retry_after=retry_after)
            self.out.put_nowait(verification)
        item.givens = []


def _endpoints(route: MailRoute, port: int) -> tuple[Endpoint, ...]:
    endpoints: list[Endpoint] = []
    for host in route.hosts:
        for address in host.addresses[:_ADDRESSES_PER_HOST]:
            endpoints.append(Endpoint(host.name, address, port))
    return tuple(endpoints[:_MAX_ENDPOINTS])


def _first_mx(route: MailRoute | None) -> str:
    return route.hosts[0].name if route and route.hosts else ""


def _syntax_verdict(problem: SyntaxProblem) -> Verification:
    return Verification(
        email=problem.given,
        normalized="",
        result=Result.INVALID,
        reason=Reason.INVALID_EMAIL,
        did_you_mean=problem.did_you_mean,
        smtp_message=problem.message,
    )


def _verification(
    given: str,
    address: ParsedAddress | None,
    result: Result,
    reason: Reason,
    *,
    message: str = "",
    code: int | None = None,
    mx_host: str = "",
    accept_all: bool = False,
    greylisted: bool = False,
) -> Verification:
    return Verification(
        email=given,
        normalized=address.normalized if address else "",
        result=result,
        reason=reason,
        free=address.free if address else False,
        disposable=address.disposable if address else False,
        role=address.role if address else False,
        accept_all=accept_all,
        did_you_mean=address.did_you_mean if address else "",
        mx_host=mx_host,
        smtp_code=code,
        smtp_message=message[:500],
        greylisted=greylisted,
    )
