"""How each sample is built and run, and what it needs installed.

Builds go into a temporary directory, once a session. A missing tool skips the sample with a
message, or fails it when ``MAILSIFT_REQUIRE_SAMPLES=1`` (as ``.ci/run`` sets).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"
GNUSTEP_SH = Path("/usr/share/GNUstep/Makefiles/GNUstep.sh")
_BUILD_TIMEOUT = 600.0


@dataclass(frozen=True)
class Sample:
    """One sample: its folder, the tools it needs, how to build it and the command that runs it.

    ``build`` gets the source folder and an empty build folder and returns the command line.
    """

    language: str
    tools: tuple[str, ...]
    build: Callable[[Path, Path], list[str]]
    check: Callable[[], str | None] = field(default=lambda: None)  # extra requirement, or why not
    name: str = ""  # the test id, when a folder holds two samples

    @property
    def id(self) -> str:
        return self.name or self.language


def run_build(argv: list[str], *, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=_BUILD_TIMEOUT, env=env, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"building failed: {argv}\n{done.stdout}\n{done.stderr}")


def _c(src: Path, out: Path) -> list[str]:
    run_build(["gcc", "-O2", "-Wall", "-Werror", "-o", str(out / "verify_list"),
               str(src / "verify_list.c"), "-lcurl"])  # fmt: skip
    return [str(out / "verify_list")]


def _csharp(src: Path, out: Path) -> list[str]:
    exe = out / "VerifyList.exe"
    run_build(["mcs", "-warnaserror", f"-out:{exe}", "-r:System.Net.Http.dll",
               "-r:System.Runtime.Serialization.dll", str(src / "VerifyList.cs")])  # fmt: skip
    return ["mono", str(exe)]


def _go(src: Path, out: Path) -> list[str]:
    env = {**os.environ, "GOCACHE": str(out / "cache"), "GOPATH": str(out / "gopath"),
           "GO111MODULE": "off"}  # fmt: skip
    run_build(["go", "build", "-o", str(out / "verify_list"), str(src / "main.go")], env=env)
    return [str(out / "verify_list")]


def _java(src: Path, out: Path) -> list[str]:
    run_build(["javac", "-Xlint:all", "-Werror", "-d", str(out), str(src / "VerifyList.java")])
    return ["java", "-cp", str(out), "VerifyList"]


def _objective_c(src: Path, out: Path) -> list[str]:
    binary = out / "verify_list"
    script = (
        f'. "{GNUSTEP_SH}" && gcc $(gnustep-config --objc-flags) -Wall -Werror'
        f' -o "{binary}" "{src / "verify_list.m"}" $(gnustep-config --base-libs)'
    )
    run_build(["sh", "-c", script])
    return [str(binary)]


def _script(*interpreter: str, name: str) -> Callable[[Path, Path], list[str]]:
    def build(src: Path, out: Path) -> list[str]:
        return [*interpreter, str(src / name)]

    return build


def _php_curl() -> str | None:
    loaded = subprocess.run(
        ["php", "-r", 'exit(extension_loaded("curl") ? 0 : 1);'], check=False, timeout=60
    )
    return None if loaded.returncode == 0 else "PHP's curl extension (php-curl)"


def _gnustep() -> str | None:
    return None if GNUSTEP_SH.exists() else f"GNUstep ({GNUSTEP_SH})"


def _libcurl_headers() -> str | None:
    found = subprocess.run(["curl-config", "--version"], capture_output=True, check=False)
    return None if found.returncode == 0 else "libcurl's headers (libcurl4-openssl-dev)"


COMMAND_LINE_SAMPLES = [
    Sample("c", ("gcc", "curl-config"), _c, _libcurl_headers),
    Sample("curl", ("bash", "curl", "jq"), _script("bash", name="verify_list.sh")),
    Sample("csharp", ("mcs", "mono"), _csharp),
    Sample("go", ("go",), _go),
    Sample("java", ("javac", "java"), _java),
    Sample("nodejs", ("node",), _script("node", name="verify_list.mjs")),
    Sample("objective-c", ("gcc", "gnustep-config"), _objective_c, _gnustep),
    Sample("php", ("php",), _script("php", name="verify_list.php"), _php_curl),
    Sample("python", (), _script(sys.executable, name="verify_list.py")),
    Sample("python", (), _script(sys.executable, name="with_client.py"), name="python-client"),
    Sample("ruby", ("ruby",), _script("ruby", name="verify_list.rb")),
    Sample("shell", ("sh", "curl"), _script("sh", name="verify_list.sh")),
]


def missing_or_skip(what: str, missing: list[str], *, also_required_by: str = "") -> None:
    """Skip naming what is not installed, or fail under MAILSIFT_REQUIRE_SAMPLES=1 (or the
    variable ``also_required_by`` names)."""
    if not missing:
        return
    message = f"the {what} sample needs {', '.join(missing)}, which is not installed"
    flags = ("MAILSIFT_REQUIRE_SAMPLES", also_required_by)
    if any(flag and os.environ.get(flag) == "1" for flag in flags):
        pytest.fail(message)
    pytest.skip(message)


class Builds:
    """Each sample's command line, built at most once a session, in a temporary folder."""

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self._tmp = tmp
        self._commands: dict[str, list[str]] = {}

    def command(self, sample: Sample) -> list[str]:
        require(sample)
        if sample.id not in self._commands:
            out = self._tmp.mktemp(sample.id)
            self._commands[sample.id] = sample.build(SAMPLES / sample.language, out)
        return self._commands[sample.id]


def require(sample: Sample) -> None:
    missing = [tool for tool in sample.tools if shutil.which(tool) is None]
    if not missing and (extra := sample.check()) is not None:
        missing = [extra]
    missing_or_skip(sample.language, missing)
