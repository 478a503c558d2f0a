"""The server's signing key: configured, or made once and kept beside the database."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_FILE = "secret.key"  # noqa: S105 (a file name)


def load_secret(data_dir: Path, configured: str = "") -> bytes:
    """``configured`` if set, else the key in ``data_dir/secret.key`` (created, mode 0600)."""
    if configured:
        return configured.encode("utf-8")
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two servers starting at once agree on whichever key was written first.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(secrets.token_hex(32) + "\n")
    return _read(path)


def _read(path: Path) -> bytes:
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ValueError(f"{path} holds no usable key: delete it to have a new one made")
    return key.encode("ascii")
