"""Each result and reason in plain words for list owners: what it means, what to do."""

from __future__ import annotations

from dataclasses import dataclass

from mailsift.api.answers import VENDOR_STATUS
from mailsift.verify.model import Reason, Result

RESULT_ORDER = (Result.VALID, Result.INVALID, Result.RISKY, Result.UNKNOWN)
RESULT_WORDS = VENDOR_STATUS  # Valid, Invalid, Risky, Unknown: the words the API answers with
# Chart colours, each with at least 3:1 contrast against white (WCAG 1.4.11).
RESULT_COLOURS = {
    Result.VALID: "#1f7a3a",
    Result.INVALID: "#b3261e",
    Result.RISKY: "#9a5b00",
    Result.UNKNOWN: "#5a5f69",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    meaning: str
    advice: str


REASONS: dict[str, Explanation] = {
    Reason.ACCEPTED_EMAIL: Explanation(
        "The mail server confirmed that this mailbox exists.", "Safe to send."
    ),
    Reason.REJECTED_EMAIL: Explanation(
        "The mail server said this mailbox does not exist (or is disabled).",
        "Remove it from your list: mail to it would bounce.",
    ),
    Reason.INVALID_EMAIL: Explanation(
        "The address is not written correctly (a typo, a missing @, a stray character).",
        "Fix it if a correction is suggested, otherwise remove it.",
    ),
    Reason.INVALID_DOMAIN: Explanation(
        "The domain does not exist or does not receive email.",
        "Remove it, or check the domain for a typo.",
    ),
    Reason.LOW_QUALITY: Explanation(
        "A disposable (throw-away) address: it usually stops working within days.",
        "Do not count on it; ask for another address.",
    ),
    Reason.LOW_DELIVERABILITY: Explanation(
        "The server accepts mail, but delivery is doubtful: it accepts any address "
        "(catch-all), or the mailbox is full.",
        "Send with care and watch the bounces, or leave it out of important campaigns.",
    ),
    Reason.NO_CONNECT: Explanation(
        "No mail server of the domain could be reached.",
        "Try again later; if it keeps failing, treat the address as doubtful.",
    ),
    Reason.TIMEOUT: Explanation("The mail server did not answer in time.", "Try again later."),
    Reason.INVALID_SMTP: Explanation(
        "The mail server would not say whether the mailbox exists (a policy or block).",
        "It may still be good: send with care, or check it another way.",
    ),
    Reason.UNAVAILABLE_SMTP: Explanation(
        "The mail server asked to come back later (greylisting or a rate limit) and kept "
        "doing so until the deadline.",
        "Verify it again later.",
    ),
    Reason.UNEXPECTED_ERROR: Explanation(
        "mailsift itself could not finish this check. Its credit was given back.",
        "Verify it again; if it happens again, tell your operator.",
    ),
}


def explain(reason: str) -> Explanation:
    return REASONS.get(reason, Explanation("", ""))
