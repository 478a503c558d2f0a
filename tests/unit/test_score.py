"""The quality score's order: bands by verdict, and every warning sign costs points."""

from __future__ import annotations

import itertools

import pytest

from mailsift.verify.model import Reason, Result, Verification
from mailsift.verify.score import PENALTIES, START, ScoreEvidence, quality_score, score_verification

SIGNS = tuple(PENALTIES)
VERDICTS = [*START, (Result.RISKY, Reason.LOW_DELIVERABILITY)]


def every_evidence() -> list[ScoreEvidence]:
    cases = []
    for (result, reason), accept_all in itertools.product(VERDICTS, (False, True)):
        for flags in itertools.product((False, True), repeat=len(SIGNS)):
            signs = dict(zip(SIGNS, flags, strict=True))
            cases.append(ScoreEvidence(result, reason, accept_all=accept_all, **signs))
    return cases


def test_scores_stay_within_0_and_100() -> None:
    assert {0 <= quality_score(e) <= 100 for e in every_evidence()} == {True}


def test_a_clean_valid_address_scores_100() -> None:
    assert quality_score(ScoreEvidence(Result.VALID, Reason.ACCEPTED_EMAIL)) == 100


@pytest.mark.parametrize("sign", SIGNS)
def test_every_warning_sign_costs_points_and_never_adds(sign: str) -> None:
    clean = ScoreEvidence(Result.VALID, Reason.ACCEPTED_EMAIL)
    assert quality_score(ScoreEvidence(Result.VALID, Reason.ACCEPTED_EMAIL, **{sign: True})) < (
        quality_score(clean)
    )
    for evidence in every_evidence():
        if not getattr(evidence, sign):
            worse = ScoreEvidence(**{**_fields(evidence), sign: True})
            assert quality_score(worse) <= quality_score(evidence), (evidence, sign)


def test_bands_never_overlap_valid_over_risky_over_unknown_over_invalid() -> None:
    order = [Result.VALID, Result.RISKY, Result.UNKNOWN, Result.INVALID]
    scores: dict[Result, list[int]] = {result: [] for result in order}
    for evidence in every_evidence():
        scores[evidence.result].append(quality_score(evidence))
    for better, worse in itertools.pairwise(order):
        assert min(scores[better]) > max(scores[worse]), (better, worse)


def test_the_same_address_on_an_accept_all_domain_scores_lower() -> None:
    valid = ScoreEvidence(Result.VALID, Reason.ACCEPTED_EMAIL, role=True, free=True)
    catch_all = ScoreEvidence(Result.RISKY, Reason.LOW_DELIVERABILITY, accept_all=True)
    full = ScoreEvidence(Result.RISKY, Reason.LOW_DELIVERABILITY)
    disposable = ScoreEvidence(Result.RISKY, Reason.LOW_QUALITY, disposable=True)
    assert quality_score(valid) > quality_score(catch_all) > quality_score(full)
    assert quality_score(full) > quality_score(disposable)


def test_an_address_rejected_outright_scores_above_a_dead_domain_above_bad_syntax() -> None:
    rejected, dead, syntax = (
        quality_score(ScoreEvidence(Result.INVALID, reason))
        for reason in (Reason.REJECTED_EMAIL, Reason.INVALID_DOMAIN, Reason.INVALID_EMAIL)
    )
    assert rejected > dead > syntax


def test_a_known_bad_address_scores_0_whatever_the_server_said() -> None:
    accepted = Verification("a@b.test", "a@b.test", Result.VALID, Reason.ACCEPTED_EMAIL)
    assert score_verification(accepted) == 100
    assert score_verification(accepted, bad=True) == 0


def test_score_verification_reads_the_flags_and_the_typo_suggestion() -> None:
    typo = Verification(
        "a@gmial.com", "a@gmial.com", Result.VALID, Reason.ACCEPTED_EMAIL,
        did_you_mean="a@gmail.com", greylisted=True,
    )  # fmt: skip
    assert score_verification(typo) == 100 - PENALTIES["typo"] - PENALTIES["greylisted"]


def _fields(evidence: ScoreEvidence) -> dict[str, object]:
    return {name: getattr(evidence, name) for name in ScoreEvidence.__slots__}
