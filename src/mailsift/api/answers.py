"""The JSON answers, field for field as the hosted API these calls mirror gives them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from mailsift.jobs.results import Which
from mailsift.store.models import Callback, CallbackState, JobStage
from mailsift.verify.model import Reason, Result, Verification

VENDOR_STATUS = {
    Result.VALID: "Valid",
    Result.INVALID: "Invalid",
    Result.RISKY: "Risky",
    Result.UNKNOWN: "Unknown",
}

MESSAGES = {
    Reason.ACCEPTED_EMAIL: "User exists!",
    Reason.REJECTED_EMAIL: "User does not exist!",
    Reason.INVALID_EMAIL: "Invalid email address!",
    Reason.INVALID_DOMAIN: "Domain does not exist or does not receive mail!",
    Reason.LOW_QUALITY: "Disposable email address!",
    Reason.LOW_DELIVERABILITY: "Mailbox full or unable to receive more mail!",
    Reason.NO_CONNECT: "Could not connect to the mail server!",
    Reason.TIMEOUT: "The mail server did not answer in time!",
    Reason.INVALID_SMTP: "The mail server refused to verify the address!",
    Reason.UNAVAILABLE_SMTP: "The mail server is temporarily unavailable!",
    Reason.UNEXPECTED_ERROR: "The address could not be verified!",
}
ACCEPT_ALL_MESSAGE = "The domain accepts every address (catch-all)!"

LINK_FIELDS: dict[Which, str] = {
    "invalid": "invalid_result_link",
    "valid": "valid_result_link",
    "unknown": "unknown_link",
}


class JobLike(Protocol):
    """A job as the answers see it (``store.models.Job`` or ``lookups.JobState``)."""

    @property
    def stage(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def percentage(self) -> str: ...


def realtime_answer(v: Verification) -> dict[str, object]:
    """Our fields and the hosted API's (``status``, ``free_email``, ``typo_suggest`` …)."""
    answer = v.as_dict()
    message = ACCEPT_ALL_MESSAGE if v.accept_all else MESSAGES[v.reason]
    answer.update(
        status=VENDOR_STATUS[v.result],
        free_email=v.free,
        typo_suggest=v.did_you_mean,
        role_address=v.role,
        message=message,
    )
    return answer


def progress_answer(job: JobLike) -> dict[str, object]:
    answer: dict[str, object] = {
        "status": "success",
        "percentage": job.percentage,
        "stage": job.stage,
    }
    if job.stage in (JobStage.FAILED, JobStage.CANCELLED):
        answer["message"] = job.message or f"The job was {job.stage.lower()}."
    return answer


def results_answer(job: JobLike, links: Mapping[Which, str] | None) -> dict[str, object]:
    """The progress answer and the three links (``""`` until the job is completed)."""
    answer = progress_answer(job)
    for which, name in LINK_FIELDS.items():
        answer[name] = links[which] if links else ""
    return answer


def callback_answer(
    public_id: str, url: str | None, callback: Callback | None
) -> dict[str, object]:
    """A job's callback delivery (``mailsift.api.docs.CallbackAnswer``)."""
    if not url:
        return {"status": "success", "job_id": public_id, "callback": None}
    if callback is None:
        delivery: dict[str, object] = {
            "url": url, "webhook_id": "", "state": "waiting", "attempts": 0,
            "last_status": None, "last_error": "", "next_attempt_at": None,
            "last_attempt_at": None, "delivered_at": None,
        }  # fmt: skip
    else:
        delivery = {
            "url": callback.url,
            "webhook_id": callback.webhook_id,
            "state": callback.state,
            "attempts": callback.attempts,
            "last_status": callback.last_status,
            "last_error": callback.last_error,
            "next_attempt_at": _when(callback.next_attempt_at)
            if callback.state == CallbackState.PENDING
            else None,
            "last_attempt_at": _when(callback.last_attempt_at),
            "delivered_at": _when(callback.delivered_at),
        }
    return {"status": "success", "job_id": public_id, "callback": delivery}


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
