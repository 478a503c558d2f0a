"""The built wheel installs into a fresh virtualenv and runs: version, migrations, a check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import mailsift
from tests.mailworld.world import MailWorld

ROOT = Path(__file__).resolve().parents[2]
# pip's words when the package index cannot be reached: no way to install anything here.
_OFFLINE = ("Failed to establish a new connection", "Temporary failure in name resolution")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    _skip_when_offline(built)
    assert built.returncode == 0, built.stderr
    [path] = out.glob("mailsift-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("fresh-venv")
    venv.create(env_dir, with_pip=True, clear=True)
    python = env_dir / "bin" / "python"
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    _skip_when_offline(done)
    assert done.returncode == 0, done.stderr
    return env_dir / "bin" / "mailsift"


def _skip_when_offline(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode and any(words in done.stderr for words in _OFFLINE):
        pytest.skip(f"the package index is not reachable: {done.stderr.strip()[-300:]}")


def test_the_wheel_carries_migrations_and_data_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mailsift/py.typed" in names
    assert "mailsift/store/migrations/env.py" in names
    assert any(n.startswith("mailsift/store/migrations/versions/0001") for n in names)
    assert "mailsift/verify/data/free_providers.txt" in names
    assert "mailsift/verify/data/role_accounts.txt" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "mailsift = mailsift.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def _run(program: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Run from elsewhere so nothing of the source tree can be imported by accident.
    return subprocess.run(
        [str(program), *args], capture_output=True, text=True, env=env, cwd=env["HOME"], timeout=120
    )


def test_the_installed_wheel_runs(installed: Path, tmp_path: Path, mail_world: MailWorld) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        **mail_world.env(),
        "MAILSIFT_DATA_DIR": str(tmp_path / "data"),
    }
    version = _run(installed, "--version", env=env)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"mailsift {mailsift.__version__}"

    upgrade = _run(installed, "db", "upgrade", env=env)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "is at schema revision" in upgrade.stdout
    assert (tmp_path / "data" / "mailsift.db").is_file()

    address, (result, reason) = next(
        (a, v) for a, v in mail_world.expected.items() if v == ("valid", "accepted_email")
    )
    check = _run(installed, "check", "--json", address, "not-an-address", env=env)
    assert check.returncode == 0, check.stderr
    answers = {row["email"]: row for row in map(json.loads, check.stdout.splitlines())}
    assert (answers[address]["result"], answers[address]["reason"]) == (result, reason)
    bad = answers["not-an-address"]
    assert (bad["result"], bad["reason"]) == ("invalid", "invalid_email")
