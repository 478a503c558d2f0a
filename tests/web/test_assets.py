"""Third-party files committed with the project are exactly the listed npm releases."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import mailsift.web
from tests.web.conftest import Harness

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = [
    Path(mailsift.web.__file__).parent / "static" / "vendor" / "ASSETS.json",
    ROOT / "tests" / "e2e" / "vendor" / "ASSETS.json",
]


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda path: path.parent.name)
def test_every_listed_asset_has_its_hash_and_licence(manifest: Path) -> None:
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    assert entries
    for entry in entries:
        assert entry["name"]
        assert entry["version"]
        assert entry["license"]
        data = (manifest.parent / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
        assert (manifest.parent / entry["license_file"]).stat().st_size > 0


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda path: path.parent.name)
def test_nothing_unlisted_lies_beside_them(manifest: Path) -> None:
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    listed = {manifest.name} | {e["file"] for e in entries} | {e["license_file"] for e in entries}
    assert {path.name for path in manifest.parent.iterdir()} == listed


def test_pages_load_only_what_the_server_serves(server: Harness) -> None:
    client = server.client()
    page = client.get("/signin")
    assert "https://" not in page.text  # no CDN
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("vendor/htmx.min.js", "vendor/pico.classless.min.css", "app.js", "app.css"):
        assert f"/static/{asset}?v=" in page.text
        assert client.get(f"/static/{asset}").status_code == 200
