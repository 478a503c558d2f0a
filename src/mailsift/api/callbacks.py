"""Callback URLs: what is accepted at submission, and one guarded delivery attempt.

- At submission a callback URL must be ``http://`` or ``https://`` with a host, no user name
  or password, no IP address written in a form other than dotted decimal or IPv6 text
  (``2130706433``, ``0x7f.1``, ``0177.0.0.1`` all mean 127.0.0.1 to some parsers), and its
  host must resolve to public addresses only (``mailsift.verify.netguard``), unless the
  operator allows private targets.
- At delivery the host is resolved again and every address checked; the request then goes to
  an address that was checked, by IP (the ``Host`` header and TLS name stay the URL's), so a
  name that resolves elsewhere the second time (DNS rebinding) gains nothing. Redirects are
  never followed; only 2xx counts as delivered; an attempt has ``timeout`` seconds in all.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from mailsift.verify.netguard import parse_ip, refusal

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048
USER_AGENT = "mailsift-callback/2"
# One to four dot-separated parts of digits or 0x-hex: what inet_aton() reads as IPv4.
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)

Resolve = Callable[[str, int], Awaitable[list[str]]]


class CallbackRefused(Exception):
    """A callback URL mailsift will not call; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_callback_url(url: str) -> httpx.URL:
    """The URL if mailsift may call it (its host not yet resolved); ``CallbackRefused`` else."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"callback_url is longer than {MAX_URL_LENGTH} characters.")
    if not url.lower().startswith(("http://", "https://")):
        raise CallbackRefused("callback_url must be an http:// or https:// URL.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise CallbackRefused(f"callback_url is not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise CallbackRefused("callback_url must be an http:// or https:// URL with a host.")
    if parsed.userinfo:
        raise CallbackRefused("callback_url must not contain a user name or password.")
    host = parsed.host
    if _NUMERIC_HOST.match(host) and parse_ip(host.rstrip(".")) is None:
        raise CallbackRefused(
            f"callback_url's host {host} is an IP address in an unusual form: "
            "write IPv4 addresses as four decimal numbers, or use a host name."
        )
    return parsed


async def vetted_addresses(
    url: httpx.URL, *, allow_private: bool, resolve: Resolve = system_resolve
) -> list[str]:
    """The addresses the URL's host resolves to, all of them allowed, or ``CallbackRefused``."""
    host = url.host
    port = url.port or (443 if url.scheme == "https" else 80)
    if parse_ip(host) is not None:
        addresses = [host]
    else:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise CallbackRefused(f"callback_url's host {host} does not resolve.") from exc
    if not addresses:
        raise CallbackRefused(f"callback_url's host {host} does not resolve.")
    if not allow_private:
        for address in addresses:
            reason = refusal(address)
            if reason is not None:
                raise CallbackRefused(
                    f"callback_url's host {host} is a private, loopback or reserved address "
                    f"({address}: {reason}); mailsift only calls public addresses."
                )
    return addresses


async def check_callback_url(
    url: str, *, allow_private: bool, resolve: Resolve = system_resolve
) -> None:
    """Refuse, at submission, a callback URL that delivery would refuse."""
    await vetted_addresses(parse_callback_url(url), allow_private=allow_private, resolve=resolve)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt came to."""

    delivered: bool
    status: int | None = None  # the receiver's HTTP status, if it answered
    error: str = ""
    retry_after: float | None = None  # seconds, from the receiver's Retry-After


class CallbackSender:
    """One guarded POST per ``attempt``; the relay decides what happens next."""

    def __init__(
        self, *, allow_private: bool, timeout: float, resolve: Resolve = system_resolve
    ) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._resolve = resolve
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: it would do its own lookup
            headers={"User-Agent": USER_AGENT},
        )

    async def attempt(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._attempt(url, body, headers)
        except CallbackRefused as exc:
            return Outcome(False, error=f"refused: {exc.message}")
        except TimeoutError:
            return Outcome(False, error=f"no answer within {self._timeout:g} s")

    async def _attempt(self, url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
        target = parse_callback_url(url)
        addresses = await vetted_addresses(
            target, allow_private=self._allow_private, resolve=self._resolve
        )
        errors: list[str] = []
        for address in addresses:
            try:
                response = await self._client.post(
                    target.copy_with(host=address),
                    content=body,
                    headers={
                        **headers,
                        "Content-Type": "application/json",
                        "Host": target.netloc.decode("ascii"),
                    },
                    extensions={"sni_hostname": target.host},
                )
            except httpx.HTTPError as exc:
                errors.append(f"{address}: {type(exc).__name__}: {exc}".rstrip(": "))
                continue  # the next address of the host, if it has one
            return _outcome(response)
        return Outcome(False, error="; ".join(errors) or "no address answered")

    async def aclose(self) -> None:
        await self._client.aclose()


def _outcome(response: httpx.Response) -> Outcome:
    status = response.status_code
    if response.is_success:
        return Outcome(True, status)
    error = f"answered {status}"
    if response.is_redirect:
        error += " (redirects are not followed)"
    return Outcome(False, status, error, retry_after(response.headers.get("Retry-After")))


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) in seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
