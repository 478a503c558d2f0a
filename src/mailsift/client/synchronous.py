"""``Client``: the mailsift API over a blocking httpx client."""

from __future__ import annotations

import time
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


class Client:
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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.token = token
        self.backoff = backoff or Backoff()
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: calls.Call[T]) -> T:
        try:
            with call.files() as files:
                response = self._http.post(call.path, data=call.data, files=files)
        except httpx.HTTPError as exc:
            raise TransportError(f"{call.path}: {exc or type(exc).__name__}") from exc
        return call.parse(calls.read_answer(response))

    def batch_process(self, *lists: Upload, callback_url: str | None = None) -> list[str]:
        """Upload lists (paths, or ``(name, bytes)``): one job id per list, in order."""
        return self._send(calls.batch_process(self.token, lists, callback_url))

    def job_progress(self, job_id: str) -> JobProgress:
        return self._send(calls.job_progress(self.token, job_id))

    def get_results(self, job_id: str) -> JobResults:
        return self._send(calls.get_results(self.token, job_id))

    def verify_email(self, email: str, *, timeout: float | None = None) -> EmailVerification:
        """One address, now (``timeout``: the server's answer time, 2 to 60 seconds)."""
        return self._send(calls.email_verification(self.token, email, timeout))

    def wait(self, job_id: str, *, on_progress: ProgressCallback | None = None) -> JobResults:
        """Poll until the job is Completed (``JobFailed`` if it fails); then its results."""
        for delay in self.backoff.delays():
            progress = self.job_progress(job_id)
            if on_progress is not None:
                on_progress(progress)
            if progress.finished:
                calls.check_finished_well(progress)
                break
            time.sleep(delay)
        return self.get_results(job_id)

    def download(
        self, results: JobResults, directory: str | Path = ".", *, stem: str = ""
    ) -> dict[ResultFile, Path]:
        """Save the three files as ``<stem>valid.csv`` and so on; their paths."""
        paths: dict[ResultFile, Path] = {}
        for which, link in results.links.items():
            calls.check_link(results, which, link)
            target = calls.download_target(directory, stem, which)
            try:
                with self._http.stream("GET", link) as response:
                    if response.status_code != httpx.codes.OK:
                        response.read()
                        raise calls.download_error(response, which)
                    with target.open("wb") as out:
                        for chunk in response.iter_bytes(_CHUNK):
                            out.write(chunk)
            except httpx.HTTPError as exc:
                raise TransportError(f"downloading the {which} file: {exc}") from exc
            paths[which] = target
        return paths
