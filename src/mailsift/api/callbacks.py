"""Job callbacks: the ``/get_results/`` answer POSTed to the job's ``callback_url``.

- Signed: ``X-Mailsift-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw body keyed by the
  SHA-256 hex digest of the account's API token (the receiver knows its token, so it can
  compute the key; the server keeps only the digest).
- Guarded: the host is resolved and every address must be public unless the operator allows
  private targets; the request then goes to the address that was checked (no second lookup
  an attacker could answer differently), and redirects are not followed.
- Retried: up to ``attempts`` times, pausing ``backoff`` seconds, then twice that, and so on,
  until the receiver answers 2xx. Retries live in this process: a restart drops them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping

import httpx

from mailsift.verify.netguard import is_public_address

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Mailsift-Signature"
MAX_URL_LENGTH = 2048
_MAX_PAUSE = 300.0

Resolve = Callable[[str, int], Awaitable[list[str]]]


class CallbackRefused(Exception):
    """A callback URL mailsift will not call; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def signature(body: bytes, key: str) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


async def system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_callback_url(url: str) -> httpx.URL:
    """The URL if it is an absolute http(s) URL with a host; ``CallbackRefused`` otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"callback_url is longer than {MAX_URL_LENGTH} characters.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise CallbackRefused(f"callback_url is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise CallbackRefused("callback_url must be an http:// or https:// URL with a host.")
    return parsed


async def vetted_addresses(
    url: httpx.URL, *, allow_private: bool, resolve: Resolve = system_resolve
) -> list[str]:
    """The addresses the URL's host resolves to, all of them allowed, or ``CallbackRefused``."""
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        ipaddress.ip_address(host)
        addresses = [host]
    except ValueError:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise CallbackRefused(f"callback_url's host {host} does not resolve.") from exc
    if not addresses:
        raise CallbackRefused(f"callback_url's host {host} does not resolve.")
    if not allow_private:
        private = [a for a in addresses if not is_public_address(a)]
        if private:
            raise CallbackRefused(
                f"callback_url's host {host} is a private, loopback or reserved address "
                f"({private[0]}); mailsift only calls public addresses."
            )
    return addresses


async def check_callback_url(
    url: str, *, allow_private: bool, resolve: Resolve = system_resolve
) -> None:
    """Refuse, at submission, a callback URL that delivery would refuse."""
    await vetted_addresses(parse_callback_url(url), allow_private=allow_private, resolve=resolve)


class CallbackSender:
    """Delivers callbacks in background tasks of the running event loop."""

    def __init__(
        self,
        *,
        allow_private: bool,
        attempts: int,
        backoff: float,
        timeout: float,
        resolve: Resolve = system_resolve,
    ) -> None:
        self._allow_private = allow_private
        self._attempts = attempts
        self._backoff = backoff
        self._resolve = resolve
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": "mailsift-callback/1"},
        )
        self._tasks: set[asyncio.Task[bool]] = set()

    def send(self, url: str, payload: Mapping[str, object], key: str) -> asyncio.Task[bool]:
        """Start delivering ``payload``; the task's result says whether it arrived."""
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        task = asyncio.create_task(self.deliver(url, body, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def deliver(self, url: str, body: bytes, key: str) -> bool:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(body, key)}
        pause = self._backoff
        for attempt in range(1, self._attempts + 1):
            try:
                if await self._attempt(url, body, headers):
                    return True
            except CallbackRefused as exc:  # the guard's verdict will not change by retrying
                log.warning("callback to %s refused: %s", url, exc.message)
                return False
            if attempt < self._attempts:
                await asyncio.sleep(pause)
                pause = min(pause * 2, _MAX_PAUSE)
        log.warning("callback to %s not delivered after %d attempts", url, self._attempts)
        return False

    async def _attempt(self, url: str, body: bytes, headers: dict[str, str]) -> bool:
        target = parse_callback_url(url)
        addresses = await vetted_addresses(
            target, allow_private=self._allow_private, resolve=self._resolve
        )
        for address in addresses:
            try:
                response = await self._client.post(
                    target.copy_with(host=address),
                    content=body,
                    headers={**headers, "Host": target.netloc.decode("ascii")},
                    extensions={"sni_hostname": target.host},
                )
            except httpx.HTTPError as exc:
                log.info("callback to %s via %s failed: %s", url, address, exc)
                continue
            if response.is_success:
                return True
            log.info("callback to %s answered %d", url, response.status_code)
            return False
        return False

    async def aclose(self) -> None:
        """Drop deliveries still pending and close connections."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.aclose()
