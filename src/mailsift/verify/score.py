"""The quality score: 0 to 100, from an address's evidence alone, by a fixed table.

Not a model: each verdict has a band (valid 70-100, risky 40-69, unknown 20-39, invalid 0-19)
and each reason a starting point in it; every warning sign (role account, free-mail provider,
disposable domain, a typo suggestion, greylisting seen) takes points off, never below its
band's floor, so an address never scores higher for having one more warning sign, and any
valid address scores above any risky one, and so on down. A known bad address (on a
suppression list) scores 0 whatever the mail server said.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailsift.verify.model import Reason, Result, Verification

# (starting point, floor) of each verdict's band, and each reason's starting point in it.
BAND_FLOOR = {Result.VALID: 70, Result.RISKY: 40, Result.UNKNOWN: 20, Result.INVALID: 0}
START = {
    (Result.VALID, Reason.ACCEPTED_EMAIL): 100,
    (Result.RISKY, Reason.LOW_DELIVERABILITY): 55,  # mailbox full (accept-all: ACCEPT_ALL_START)
    (Result.RISKY, Reason.LOW_QUALITY): 45,  # disposable domain
    (Result.UNKNOWN, Reason.UNAVAILABLE_SMTP): 39,
    (Result.UNKNOWN, Reason.TIMEOUT): 35,
    (Result.UNKNOWN, Reason.INVALID_SMTP): 33,
    (Result.UNKNOWN, Reason.NO_CONNECT): 30,
    (Result.UNKNOWN, Reason.UNEXPECTED_ERROR): 30,
    (Result.INVALID, Reason.REJECTED_EMAIL): 15,
    (Result.INVALID, Reason.INVALID_DOMAIN): 10,
    (Result.INVALID, Reason.INVALID_EMAIL): 5,
}
ACCEPT_ALL_START = 65
# Any other (result, reason) pair starts at its band's top.
BAND_TOP = {Result.VALID: 100, Result.RISKY: 69, Result.UNKNOWN: 39, Result.INVALID: 19}
PENALTIES = {
    "role": 10,
    "free": 5,
    "disposable": 10,
    "typo": 15,
    "greylisted": 5,
}


@dataclass(frozen=True, slots=True)
class ScoreEvidence:
    result: Result
    reason: Reason
    accept_all: bool = False
    role: bool = False
    free: bool = False
    disposable: bool = False
    typo: bool = False
    greylisted: bool = False
    bad: bool = False


def quality_score(evidence: ScoreEvidence) -> int:
    """The score of one address (0-100); see the module's docstring for the table."""
    if evidence.bad:
        return 0
    result = evidence.result
    if result is Result.RISKY and evidence.accept_all:
        start = ACCEPT_ALL_START
    else:
        start = START.get((result, evidence.reason), BAND_TOP[result])
    penalty = sum(points for sign, points in PENALTIES.items() if getattr(evidence, sign))
    return max(BAND_FLOOR[result], start - penalty)


def score_verification(verification: Verification, *, bad: bool = False) -> int:
    """``quality_score`` of what the engine found (and whether the address is known bad)."""
    v = verification
    return quality_score(
        ScoreEvidence(
            result=Result(v.result),
            reason=Reason(v.reason),
            accept_all=v.accept_all,
            role=v.role,
            free=v.free,
            disposable=v.disposable,
            typo=bool(v.did_you_mean),
            greylisted=v.greylisted,
            bad=bad,
        )
    )
