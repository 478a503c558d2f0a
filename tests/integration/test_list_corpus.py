"""``mailsift verify`` on the corpus of real export shapes, over the loopback mail world."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.listcorpus import CASES, Case, case_path, check_results
from tests.mailworld.world import MailWorld


@pytest.mark.parametrize("case", CASES, ids=[case.file for case in CASES])
def test_every_address_of_the_export_is_verified_once(
    case: Case, mail_world: MailWorld, tmp_path: Path
) -> None:
    path = case_path(case, tmp_path)
    data_dir, out = tmp_path / "data", tmp_path / "out"
    env = {**os.environ, **mail_world.env(), "MAILSIFT_DATA_DIR": str(data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "mailsift", "verify", str(path), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    stem = Path(case.file).stem
    files = {}
    for which in ("valid", "invalid", "unknown"):
        with (out / f"{stem}-{which}.csv").open(encoding="utf-8", newline="") as fh:
            files[which] = list(csv.reader(fh))
    check_results(case, path, files, mail_world.expected)
    with sqlite3.connect(data_dir / "mailsift.db") as db:
        counts = db.execute("SELECT blank, duplicates, total FROM jobs").fetchall()
    assert counts == [(case.blank, case.duplicates, len(case.expected) + len(case.bad_syntax))]
