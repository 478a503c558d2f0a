"""Every command-line sample, run against a live mailsift over the mail world.

Each one uploads the list, polls, downloads the three files and makes one real-time call;
the files must hold every address with the verdict the policy demands. With a bad token, and
with a job that fails, each must print the server's message and exit non-zero.
"""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.samples.conftest import FAILED_JOB_MESSAGE, LiveApi
from tests.samples.toolchains import COMMAND_LINE_SAMPLES, Builds, Sample

REALTIME_ADDRESS = "alice@ok.test"
FILE_OF_RESULT = {"valid": "valid.csv", "invalid": "invalid.csv"}  # risky/unknown: unknown.csv
_RUN_TIMEOUT = 180.0


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Builds:
    return Builds(tmp_path_factory)


def run_sample(
    argv: list[str], api: LiveApi, workdir: Path, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MAILSIFT_URL": api.harness.url,
        "MAILSIFT_TOKEN": api.token if token is None else token,
        "MAILSIFT_POLL_SECONDS": "1",
        "HOME": str(workdir),  # GNUstep and Mono write their defaults there
    }
    return subprocess.run(
        [*argv, *args], cwd=workdir, env=env, capture_output=True, text=True,
        timeout=_RUN_TIMEOUT, check=False,
    )  # fmt: skip


def check_downloads(workdir: Path, expected: dict[str, tuple[str, str]]) -> None:
    """The three files hold every address once, in its file, with its verdict."""
    seen: dict[str, tuple[str, str, str]] = {}
    for name in ("valid.csv", "invalid.csv", "unknown.csv"):
        with (workdir / name).open(encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
        assert rows[0][:4] == ["name", "email", "result", "reason"], name
        for row in rows[1:]:
            assert row[0].startswith("Customer "), row  # the original columns come back
            assert row[1] not in seen, f"{row[1]} twice"
            seen[row[1]] = (name, row[2], row[3])
    for address, (result, reason) in expected.items():
        assert seen.get(address) == (FILE_OF_RESULT.get(result, "unknown.csv"), result, reason), (
            address
        )
    assert len(seen) == len(expected)


def bad_token_message(api: LiveApi) -> str:
    answer = httpx.post(f"{api.harness.url}/batch_process/", data={"user_API_token": "nope"},
                        files={"file": ("x.txt", b"a@b.test\n")})  # fmt: skip
    assert answer.status_code == 401
    message: str = answer.json()["message"]
    return message


@pytest.mark.parametrize("sample", COMMAND_LINE_SAMPLES, ids=lambda s: s.id)
def test_sample_does_the_whole_integration(
    sample: Sample,
    built: Builds,
    tmp_path: Path,
    live_api: LiveApi,
    sample_list: Path,
    expected: dict[str, tuple[str, str]],
) -> None:
    argv = built.command(sample)
    done = run_sample(argv, live_api, tmp_path, str(sample_list), REALTIME_ADDRESS)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert any(line.startswith("job ") for line in lines), done.stdout
    assert "Completed 100.00%" in lines, done.stdout
    assert f"{REALTIME_ADDRESS}: valid (accepted_email)" in lines, done.stdout
    check_downloads(tmp_path, expected)


@pytest.mark.parametrize("sample", COMMAND_LINE_SAMPLES, ids=lambda s: s.id)
def test_sample_reports_a_bad_token_and_exits_non_zero(
    sample: Sample,
    built: Builds,
    tmp_path: Path,
    live_api: LiveApi,
    sample_list: Path,
) -> None:
    argv = built.command(sample)
    done = run_sample(argv, live_api, tmp_path, str(sample_list), REALTIME_ADDRESS, token="nope")
    assert done.returncode != 0, done.stdout
    assert bad_token_message(live_api) in done.stderr, done.stderr
    assert not (tmp_path / "valid.csv").exists()


@pytest.mark.parametrize("sample", COMMAND_LINE_SAMPLES, ids=lambda s: s.id)
def test_sample_reports_a_failed_job_and_exits_non_zero(
    sample: Sample,
    built: Builds,
    tmp_path: Path,
    failing_api: LiveApi,
    sample_list: Path,
) -> None:
    argv = built.command(sample)
    done = run_sample(argv, failing_api, tmp_path, str(sample_list), REALTIME_ADDRESS)
    assert done.returncode != 0, done.stdout
    assert FAILED_JOB_MESSAGE in done.stderr, done.stderr
    assert not (tmp_path / "valid.csv").exists()
