"""The engine's ``DomainMemory`` kept in the database, so every worker and every later job
shares what one of them learnt: a domain's mail route, its accept-all answer, greylisting
seen, and each mail server's recipient cap, each kept ``ttl`` seconds from its last finding.

Reads are one query per batch of domains. Writes are gathered and sent together, one upsert
per kind, a moment after the engine notes them (``flush`` sends what is waiting).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, null, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from mailsift.store.engine import Store
from mailsift.store.models import DomainFinding, HostFinding, utcnow
from mailsift.verify.dns import MailHost, MailRoute, RouteStatus
from mailsift.verify.memory import DomainFindings

log = logging.getLogger(__name__)

_WRITE_DELAY = 0.2  # seconds: findings noted meanwhile go in the same statement


class StoreDomainMemory:
    def __init__(self, store: Store, ttl: float) -> None:
        self._store = store
        self._ttl = timedelta(seconds=ttl)
        self._domains: dict[str, dict[str, Any]] = {}
        self._caps: dict[str, int] = {}
        self._writer: asyncio.Task[None] | None = None

    async def recall(self, domains: Collection[str]) -> Mapping[str, DomainFindings]:
        if not domains:
            return {}
        query = select(DomainFinding).where(
            DomainFinding.domain.in_(list(domains)), DomainFinding.expires_at > utcnow()
        )
        async with self._store.read() as session:
            rows = (await session.execute(query)).scalars().all()
        return {
            row.domain: DomainFindings(
                route=route_from_json(row.route) if row.route else None,
                accept_all=row.accept_all,
                greylisting=row.greylisting,
            )
            for row in rows
        }

    async def recall_rcpt_caps(self, hosts: Collection[str]) -> Mapping[str, int]:
        if not hosts:
            return {}
        query = select(HostFinding.host, HostFinding.rcpt_cap).where(
            HostFinding.host.in_(list(hosts)), HostFinding.expires_at > utcnow()
        )
        async with self._store.read() as session:
            return {host: int(cap) for host, cap in await session.execute(query)}

    def remember(
        self,
        domain: str,
        *,
        route: MailRoute | None = None,
        accept_all: bool | None = None,
        greylisting: bool = False,
    ) -> None:
        found = self._domains.setdefault(domain, {"route": None, "accept_all": None})
        if route is not None:
            found["route"] = route_to_json(route)
        if accept_all is not None:
            found["accept_all"] = accept_all
        found["greylisting"] = found.get("greylisting", False) or greylisting
        self._schedule()

    def remember_rcpt_cap(self, host: str, cap: int) -> None:
        self._caps[host] = min(cap, self._caps.get(host, cap))
        self._schedule()

    async def flush(self) -> None:
        """Write what is waiting now (and wait for a write under way)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        await self._write()

    async def forget_expired(self) -> int:
        now = utcnow()
        async with self._store.write() as session:
            one = await session.execute(
                delete(DomainFinding).where(DomainFinding.expires_at <= now)
            )
            two = await session.execute(delete(HostFinding).where(HostFinding.expires_at <= now))
        return int(getattr(one, "rowcount", 0)) + int(getattr(two, "rowcount", 0))

    def _schedule(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(_WRITE_DELAY)
        try:
            await self._write()
        except Exception:  # the memory is an optimisation: never a reason to fail
            log.exception("writing domain findings failed")

    async def _write(self) -> None:
        domains, self._domains = self._domains, {}
        caps, self._caps = self._caps, {}
        if not domains and not caps:
            return
        expires = utcnow() + self._ttl
        async with self._store.write() as session:
            insert = sqlite.insert if self._store.is_sqlite else postgresql.insert
            if domains:
                rows = [
                    {
                        "domain": name,
                        "expires_at": expires,
                        "greylisting": found.get("greylisting", False),
                        "accept_all": found["accept_all"],
                        # SQL NULL, not JSON null: "no new route" must keep the old one.
                        "route": found["route"] if found["route"] is not None else null(),
                    }
                    for name, found in domains.items()
                ]
                statement = insert(DomainFinding).values(rows)
                new = statement.excluded
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["domain"],
                        set_={
                            "route": func.coalesce(new.route, DomainFinding.route),
                            "accept_all": func.coalesce(new.accept_all, DomainFinding.accept_all),
                            "greylisting": or_(new.greylisting, DomainFinding.greylisting),
                            "expires_at": new.expires_at,
                        },
                    )
                )
            if caps:
                statement = insert(HostFinding).values(
                    [{"host": h, "rcpt_cap": c, "expires_at": expires} for h, c in caps.items()]
                )
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["host"],
                        set_={
                            "rcpt_cap": statement.excluded.rcpt_cap,
                            "expires_at": statement.excluded.expires_at,
                        },
                    )
                )


def route_to_json(route: MailRoute) -> dict[str, Any]:
    return {
        "domain": route.domain,
        "status": str(route.status),
        "hosts": [[h.name, h.preference, list(h.addresses)] for h in route.hosts],
        "implicit": route.implicit,
        "detail": route.detail,
    }


def route_from_json(data: dict[str, Any]) -> MailRoute | None:
    try:
        return MailRoute(
            domain=str(data["domain"]),
            status=RouteStatus(data["status"]),
            hosts=tuple(
                MailHost(str(name), int(preference), tuple(str(a) for a in addresses))
                for name, preference, addresses in data["hosts"]
            ),
            implicit=bool(data["implicit"]),
            detail=str(data["detail"]),
        )
    except (KeyError, TypeError, ValueError):
        return None  # written by another version: ask DNS again
