"""``mailsift verify`` on the corpus of real export shapes, over the loopback mail world."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.listcorpus import (
    CASES,
    HIDDEN_SHEET,
    WORKBOOK,
    Case,
    case_path,
    check_results,
    write_workbook,
)
from tests.mailworld.world import MailWorld


def verify(args: list[str], world: MailWorld, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **world.env(), "MAILSIFT_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "mailsift", "verify", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize("case", CASES, ids=[case.file for case in CASES])
def test_every_address_of_the_export_is_verified_once(
    case: Case, mail_world: MailWorld, tmp_path: Path
) -> None:
    path = case_path(case, tmp_path)
    data_dir, out = tmp_path / "data", tmp_path / "out"
    done = verify([str(path), "-o", str(out)], mail_world, data_dir)
    assert done.returncode == 0, done.stderr

    stem = Path(case.file).stem
    files = {
        which: read_csv(out / f"{stem}-{which}.csv") for which in ("valid", "invalid", "unknown")
    }
    check_results(case, path, files, mail_world.expected)
    with sqlite3.connect(data_dir / "mailsift.db") as db:
        counts = db.execute("SELECT blank, duplicates, total FROM jobs").fetchall()
    assert counts == [(case.blank, case.duplicates, len(case.expected) + len(case.bad_syntax))]


def test_sheet_and_column_flags(mail_world: MailWorld, tmp_path: Path) -> None:
    workbook = write_workbook(tmp_path / WORKBOOK)
    data_dir, out = tmp_path / "data", tmp_path / "out"
    wrong = verify([str(workbook), "--sheet", "2", "--column", "Mail"], mail_world, data_dir)
    assert wrong.returncode != 0
    assert " ".join(wrong.stderr.split()) == (
        f"error: {workbook}: The sheet 'Contacts' has no column 'Mail': its columns are "
        "'Name', 'Email', 'Phone', 'Joined' (or by number, columns 1 to 4)."
    )
    missing = verify([str(workbook), "--sheet", "Leads"], mail_world, data_dir)
    assert missing.returncode != 0
    assert "its sheets are 'Read me', 'Contacts', 'Old list' (hidden)" in " ".join(
        missing.stderr.split()
    )

    done = verify(
        [str(workbook), "--sheet", HIDDEN_SHEET, "--column", "1", "-o", str(out)],
        mail_world,
        data_dir,
    )
    assert done.returncode == 0, done.stderr
    stem = Path(WORKBOOK).stem
    emails = {
        row[0]: (which, row[1], row[2])
        for which in ("valid", "invalid", "unknown")
        for row in read_csv(out / f"{stem}-{which}.csv")[1:]
    }
    assert emails == {
        "bob@ok.test": ("valid", "valid", "accepted_email"),
        "info@ok.test": ("valid", "valid", "accepted_email"),
        "alice@backup.test": ("valid", "valid", "accepted_email"),
        "nobody@ok.test": ("invalid", "invalid", "rejected_email"),
    }
