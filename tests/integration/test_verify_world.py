"""``mailsift verify`` as shipped (the real engine) over the loopback mail world."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from tests.mailworld.world import MailWorld

_FILE_OF = {"valid": "valid", "invalid": "invalid", "risky": "unknown", "unknown": "unknown"}
# Addresses that take the world's retry or timeout paths; the rest of the world is enough.
_SLOW = ("greylist.test", "tarpit.test", "slowdrip.test", "dnstimeout.test", "greet421.test")


def test_three_files_follow_the_policy(mail_world: MailWorld, tmp_path: Path) -> None:
    addresses = [a for a in mail_world.expected if not a.endswith(_SLOW)]
    listing = tmp_path / "customers.csv"
    with listing.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Name", "E-mail", "Notes"])
        for n, address in enumerate(addresses):
            writer.writerow([f"Customer {n}", address, '=HYPERLINK("x")' if n == 0 else "ok"])
        local, domain = addresses[0].split("@")
        writer.writerow(["Duplicate", f"{local}@{domain.upper()}", "dup"])  # the same mailbox
        writer.writerow(["Broken", "not-an-address", ""])
    env = {
        **os.environ,
        **mail_world.env(),
        "MAILSIFT_DATA_DIR": str(tmp_path / "data"),
        "MAILSIFT_MAX_CONNECTIONS_PER_HOST": "2",
        "MAILSIFT_MAX_RCPT_PER_SESSION": "5",
    }
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "mailsift", "verify", str(listing), "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    seen: dict[str, tuple[str, str, str]] = {}
    for which in ("valid", "invalid", "unknown"):
        with (out / f"customers-{which}.csv").open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0][:3] == ["Name", "E-mail", "Notes"]
        assert rows[0][3:5] == ["result", "reason"]
        for row in rows[1:]:
            assert row[1] not in seen, f"{row[1]} appears twice"
            seen[row[1]] = (which, row[3], row[4])
            if row[0] == "Customer 0":
                assert row[2] == '\'=HYPERLINK("x")'  # neutralised, never a live formula

    assert seen.pop("not-an-address") == ("invalid", "invalid", "invalid_email")
    assert set(seen) == set(addresses)  # the duplicate is gone
    for address in addresses:
        result, reason = mail_world.expected[address]
        assert seen[address] == (_FILE_OF[result], result, reason), address
