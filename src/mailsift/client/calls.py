"""The API's calls without I/O: what each one sends, and what its answer means.

``Client`` and ``AsyncClient`` only move these over httpx, so both behave the same.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Generic, Literal, TypeVar

import httpx

from mailsift.client.errors import ApiError, ClientError, JobFailed

T = TypeVar("T")
ResultFile = Literal["valid", "invalid", "unknown"]
LINK_FIELDS: dict[ResultFile, str] = {
    "valid": "valid_result_link",
    "invalid": "invalid_result_link",
    "unknown": "unknown_link",
}
FINISHED_BADLY = ("Failed", "Cancelled")
# A list to upload: a path, or (file name, content).
Upload = str | Path | tuple[str, bytes]


@dataclass(frozen=True)
class Backoff:
    """Pauses between progress polls: ``initial`` seconds, growing by ``factor`` to ``maximum``."""

    initial: float = 1.0
    factor: float = 1.5
    maximum: float = 15.0

    def delays(self) -> Iterator[float]:
        for n in itertools.count():
            yield min(self.maximum, self.initial * self.factor**n)


@dataclass(frozen=True)
class JobProgress:
    """``/job_progress/``: the stage (``In Queue``, ``Processing``, ``Completed``, ``Failed``,
    ``Cancelled``) and the share of addresses done, ``percentage`` as the server wrote it."""

    job_id: str
    stage: str
    percentage: str
    message: str = ""

    @property
    def fraction(self) -> float:
        return float(self.percentage) / 100

    @property
    def finished(self) -> bool:
        return self.stage not in ("In Queue", "Processing")


@dataclass(frozen=True)
class JobResults(JobProgress):
    """``/get_results/``: the progress and the three signed links (empty until Completed)."""

    links: Mapping[ResultFile, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EmailVerification:
    """``/email_verification/``: one address's verdict and the evidence behind it."""

    email: str
    normalized: str
    result: str
    reason: str
    free: bool
    disposable: bool
    role: bool
    accept_all: bool
    did_you_mean: str
    mx_host: str
    smtp_code: int | None
    smtp_message: str
    message: str


@dataclass(frozen=True)
class Call(Generic[T]):
    """One POST: its path, form fields and files, and how to read a successful answer."""

    path: str
    data: dict[str, str]
    parse: Callable[[dict[str, Any]], T]
    uploads: Sequence[Upload] = ()

    @contextlib.contextmanager
    def files(self) -> Iterator[list[tuple[str, tuple[str, IO[bytes] | bytes, str]]] | None]:
        """The uploads as httpx ``files`` (field ``file``, repeated), open while in use."""
        if not self.uploads:
            yield None
            return
        with contextlib.ExitStack() as stack:
            parts: list[tuple[str, tuple[str, IO[bytes] | bytes, str]]] = []
            for upload in self.uploads:
                if isinstance(upload, tuple):
                    name, content = upload
                    parts.append(("file", (name, content, "application/octet-stream")))
                else:
                    path = Path(upload)
                    handle = stack.enter_context(path.open("rb"))
                    parts.append(("file", (path.name, handle, "application/octet-stream")))
            yield parts


def batch_process(
    token: str, uploads: Sequence[Upload], callback_url: str | None
) -> Call[list[str]]:
    data = {"user_API_token": token}
    if callback_url:
        data["callback_url"] = callback_url
    return Call("/batch_process/", data, lambda answer: [str(i) for i in answer["job_id"]], uploads)


def job_progress(token: str, job_id: str) -> Call[JobProgress]:
    def parse(answer: dict[str, Any]) -> JobProgress:
        return JobProgress(job_id, answer["stage"], answer["percentage"], answer.get("message", ""))

    return Call("/job_progress/", {"user_API_token": token, "job_id": job_id}, parse)


def get_results(token: str, job_id: str) -> Call[JobResults]:
    def parse(answer: dict[str, Any]) -> JobResults:
        links = {which: str(answer.get(name, "")) for which, name in LINK_FIELDS.items()}
        stage, percentage, message = answer["stage"], answer["percentage"], answer.get("message")
        return JobResults(job_id, stage, percentage, message or "", links)

    return Call("/get_results/", {"user_API_token": token, "job_id": job_id}, parse)


def email_verification(token: str, email: str, timeout: float | None) -> Call[EmailVerification]:
    data = {"user_API_token": token, "email": email}
    if timeout is not None:
        data["timeout"] = f"{timeout:g}"
    return Call("/email_verification/", data, _verification)


def _verification(answer: dict[str, Any]) -> EmailVerification:
    code = answer.get("smtp_code")
    return EmailVerification(
        email=answer["email"],
        normalized=answer.get("normalized", ""),
        result=answer["result"],
        reason=answer["reason"],
        free=bool(answer.get("free")),
        disposable=bool(answer.get("disposable")),
        role=bool(answer.get("role")),
        accept_all=bool(answer.get("accept_all")),
        did_you_mean=answer.get("did_you_mean") or "",
        mx_host=answer.get("mx_host") or "",
        smtp_code=int(code) if code is not None else None,
        smtp_message=answer.get("smtp_message") or "",
        message=answer.get("message") or "",
    )


def read_answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a successful answer; ``ApiError`` for a failed one."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ApiError(
            f"{response.request.url.path} answered HTTP {response.status_code}, not JSON",
            response.status_code,
        )
    if answer.get("status") == "failed" or response.is_error:
        retry_after = response.headers.get("Retry-After")
        raise ApiError(
            str(answer.get("message") or f"HTTP {response.status_code}"),
            response.status_code,
            float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
    return answer


def check_finished_well(progress: JobProgress) -> None:
    if progress.stage in FINISHED_BADLY:
        message = progress.message or f"The job was {progress.stage.lower()}."
        raise JobFailed(progress.job_id, progress.stage, message)


def check_link(results: JobResults, which: ResultFile, link: str) -> None:
    """Links are empty until the job is completed: say so rather than fetch nothing."""
    if not link:
        raise ClientError(
            f"job {results.job_id} has no {which} file to download: it is {results.stage}"
        )


def download_target(directory: str | Path, stem: str, which: ResultFile) -> Path:
    """``<directory>/<stem>valid.csv`` (a stem like ``"customers-"``, or none)."""
    return Path(directory) / f"{stem}{which}.csv"


def download_error(response: httpx.Response, which: ResultFile) -> ApiError:
    """What a result link answering other than 200 means (403 bad signature, 410 expired).

    The body must have been read.
    """
    try:
        message = str(response.json().get("message"))
    except ValueError:
        message = f"HTTP {response.status_code}"
    return ApiError(f"downloading the {which} file: {message}", response.status_code)
