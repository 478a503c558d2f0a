"""A missing toolchain skips its sample with a message, or fails it when samples are required."""

from __future__ import annotations

import pytest

from tests.samples.toolchains import Sample, require

ABSENT = Sample("cobol", ("no-such-compiler-xyz",), lambda src, out: [])


def test_a_missing_tool_skips_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILSIFT_REQUIRE_SAMPLES", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require(ABSENT)
    assert str(skipped.value) == (
        "the cobol sample needs no-such-compiler-xyz, which is not installed"
    )


def test_a_missing_tool_fails_when_samples_are_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILSIFT_REQUIRE_SAMPLES", "1")
    with pytest.raises(pytest.fail.Exception, match="needs no-such-compiler-xyz"):
        require(ABSENT)


def test_a_missing_extra_requirement_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILSIFT_REQUIRE_SAMPLES", raising=False)
    sample = Sample("php", ("sh",), lambda src, out: [], check=lambda: "PHP's curl extension")
    with pytest.raises(pytest.skip.Exception, match="needs PHP's curl extension"):
        require(sample)
