"""``AsyncClient``: the mailsift API over an asynchronous httpx client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import httpx

from mailsift.client import calls
from mailsift.client.calls import (
    Backoff,
    EmailVerification,
    JobProgress,
    JobResults,
    ResultFile,
    Upload,
)
from mailsift.client.errors import TransportError

T = TypeVar("T")
ProgressCallback = Callable[[JobProgress], None]
_CHUNK = 64 * 1024


class AsyncClient:
    """The four calls, waiting for a job, and downloading its files.

    ``base_url`` is the server (``https://verify.example.com``), ``token`` an API token.
    Failed answers raise ``ApiError``; an unreachable server ``TransportError``.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 120.0,
        backoff: Backoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.token = token
        self.backoff = backoff or Backoff()
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: calls.Call[T]) -> T:
        try:
            with call.files() as files:
                response = await self._http.post(call.path, data=call.data, files=files)
        except httpx.HTTPError as exc:
            raise TransportError(f"{call.path}: {exc or type(exc).__name__}") from exc
        return call.parse(calls.read_answer(response))

    async def batch_process(self, *lists: Upload, callback_url: str | None = None) -> list[str]:
        """Upload lists (paths, or ``(name, bytes)``): one job id per list, in order."""
        return await self._send(calls.batch_process(self.token, lists, callback_url))

    async def job_progress(self, job_id: str) -> JobProgress:
        return await self._send(calls.job_progress(self.token, job_id))

    async def get_results(self, job_id: str) -> JobResults:
        return await self._send(calls.get_results(self.token, job_id))

    async def verify_email(
        self,
        email: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the API's parameter, sent to the server)
    ) -> EmailVerification:
        """One address, now (``timeout``: the server's answer time, 2 to 60 seconds)."""
        return await self._send(calls.email_verification(self.token, email, timeout))

    async def wait(self, job_id: str, *, on_progress: ProgressCallback | None = None) -> JobResults:
        """Poll until the job is Completed (``JobFailed`` if it fails); then its results."""
        for delay in self.backoff.delays():
            progress = await self.job_progress(job_id)
            if on_progress is not None:
                on_progress(progress)
            if progress.finished:
                calls.check_finished_well(progress)
                break
            await asyncio.sleep(delay)
        return await self.get_results(job_id)

    async def download(
        self, results: JobResults, directory: str | Path = ".", *, stem: str = ""
    ) -> dict[ResultFile, Path]:
        """Save the three files as ``<stem>valid.csv`` and so on; their paths."""
        paths: dict[ResultFile, Path] = {}
        for which, link in results.links.items():
            calls.check_link(results, which, link)
            target = calls.download_target(directory, stem, which)
            try:
                async with self._http.stream("GET", link) as response:
                    if response.status_code != httpx.codes.OK:
                        await response.aread()
                        raise calls.download_error(response, which)
                    with target.open("wb") as out:
                        async for chunk in response.aiter_bytes(_CHUNK):
                            out.write(chunk)
            except httpx.HTTPError as exc:
                raise TransportError(f"downloading the {which} file: {exc}") from exc
            paths[which] = target
        return paths
