"""The values the engine hands out: results, reasons and one address's verification."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Result(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    RISKY = "risky"
    UNKNOWN = "unknown"


class Reason(StrEnum):
    ACCEPTED_EMAIL = "accepted_email"
    REJECTED_EMAIL = "rejected_email"
    INVALID_EMAIL = "invalid_email"
    INVALID_DOMAIN = "invalid_domain"
    LOW_QUALITY = "low_quality"
    LOW_DELIVERABILITY = "low_deliverability"
    NO_CONNECT = "no_connect"
    TIMEOUT = "timeout"
    INVALID_SMTP = "invalid_smtp"
    UNAVAILABLE_SMTP = "unavailable_smtp"
    UNEXPECTED_ERROR = "unexpected_error"


@dataclass(frozen=True, slots=True)
class Verification:
    """The final word on one address, with the evidence it rests on."""

    email: str
    normalized: str
    result: Result
    reason: Reason
    free: bool = False
    disposable: bool = False
    role: bool = False
    accept_all: bool = False
    did_you_mean: str = ""
    mx_host: str = ""
    smtp_code: int | None = None
    smtp_message: str = ""
    # The mail server answered 4xx (greylisting, rate limits) before its final word.
    greylisted: bool = False
    # Set only by ``verify_many(..., defer_retries=True)``: this answer is provisional, ask
    # again about the address after this many seconds (greylisting, rate limits).
    retry_after: float | None = None

    @property
    def deferred(self) -> bool:
        return self.retry_after is not None

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["result"] = str(self.result)
        data["reason"] = str(self.reason)
        if self.retry_after is None:
            del data["retry_after"]
        return data
