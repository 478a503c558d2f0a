"""Uploaded lists kept between the preview and the start, in a folder of the session's own.

A staged upload lives under ``<data_dir>/uploads/staged-<session>-<random>``; the server
clears upload folders older than an hour when it starts. The preview and the start must
reach the same server (behind a load balancer: sticky sessions, or a shared data folder).
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

_MANIFEST = "staged.json"


@dataclass(frozen=True, slots=True)
class StagedFile:
    path: Path
    filename: str


def _folder(root: Path, session_id: int, stage_id: str) -> Path | None:
    if not stage_id.replace("-", "").replace("_", "").isalnum() or len(stage_id) > 64:
        return None
    return root / f"staged-{session_id}-{stage_id}"


def stage(
    root: Path,
    session_id: int,
    files: list[tuple[Path, str]],
    pasted: tuple[str, str] | None = None,
) -> str:
    """Move the uploaded files (and write the pasted text, as ``(name, text)``) into a new
    staging folder; its id."""
    stage_id = secrets.token_urlsafe(12)
    folder = _folder(root, session_id, stage_id)
    assert folder is not None
    folder.mkdir(parents=True)
    names = []
    for n, (path, filename) in enumerate(files):
        target = folder / f"list-{n}{path.suffix}"
        shutil.move(path, target)
        names.append({"disk": target.name, "filename": filename})
    if pasted is not None:
        target = folder / f"list-{len(files)}.txt"
        target.write_text(pasted[1] + "\n", encoding="utf-8")
        names.append({"disk": target.name, "filename": pasted[0]})
    (folder / _MANIFEST).write_text(json.dumps(names), encoding="utf-8")
    return stage_id


def staged(root: Path, session_id: int, stage_id: str) -> list[StagedFile] | None:
    """The files of the session's staged upload, or ``None`` (unknown, or someone else's)."""
    folder = _folder(root, session_id, stage_id)
    if folder is None or not (folder / _MANIFEST).is_file():
        return None
    entries = json.loads((folder / _MANIFEST).read_text(encoding="utf-8"))
    return [StagedFile(folder / entry["disk"], str(entry["filename"])) for entry in entries]


def discard(root: Path, session_id: int, stage_id: str) -> None:
    folder = _folder(root, session_id, stage_id)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
