"""The API's small parts on their own: link signing, answers, file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsift.api.answers import MESSAGES, VENDOR_STATUS
from mailsift.api.body import clean_filename
from mailsift.api.links import LinkExpired, LinkInvalid, LinkSigner
from mailsift.api.secret import load_secret
from mailsift.verify.model import Reason, Result


def test_link_signature_covers_job_file_and_expiry() -> None:
    signer = LinkSigner(b"k" * 32, ttl=60)
    link = signer.link("https://x.test", "job1", "valid", now=1_000)
    assert link.startswith("https://x.test/download/job1/valid.csv?expires=1060&signature=")
    signature = link.rsplit("=", 1)[1]
    assert signer.check("job1", "valid", "1060", signature, now=1_000) == "valid"
    for job, which, expires in [
        ("job2", "valid", "1060"),
        ("job1", "invalid", "1060"),
        ("job1", "valid", "1061"),
        ("job1", "other", "1060"),
    ]:
        with pytest.raises(LinkInvalid):
            signer.check(job, which, expires, signature, now=1_000)
    with pytest.raises(LinkExpired):
        signer.check("job1", "valid", "1060", signature, now=1_061)
    other_server = LinkSigner(b"j" * 32, ttl=60)
    with pytest.raises(LinkInvalid):
        other_server.check("job1", "valid", "1060", signature, now=1_000)


def test_secret_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_secret(tmp_path)
    assert load_secret(tmp_path) == first
    assert len(first) == 64
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert load_secret(tmp_path, "configured-key") == b"configured-key"
    (tmp_path / "secret.key").write_text("short")
    with pytest.raises(ValueError, match="no usable key"):
        load_secret(tmp_path)


def test_every_result_and_reason_has_its_vendor_words() -> None:
    assert set(VENDOR_STATUS) == set(Result)
    assert set(VENDOR_STATUS.values()) == {"Valid", "Invalid", "Risky", "Unknown"}
    assert set(MESSAGES) == set(Reason)
    assert MESSAGES[Reason.ACCEPTED_EMAIL] == "User exists!"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("list.csv", "list.csv"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\list.xlsx", "list.xlsx"),
        ("", "list"),
        ("dir/", "dir"),
        ("x" * 300, "x" * 200),
    ],
)
def test_uploaded_file_names_lose_their_folders(raw: str, clean: str) -> None:
    assert clean_filename(raw) == clean
