"""A database that goes away: one line at the command line, 503 at the API, nothing leaked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.api.conftest import ServerFactory, api_test_settings

UNREACHABLE = "postgresql://mailsift@127.0.0.1:9/nowhere"  # discard port: nothing listens


@pytest.mark.parametrize("command", [["accounts", "list"], ["db", "upgrade"]])
def test_cli_says_in_one_line_that_the_database_is_unreachable(
    tmp_path: Path, command: list[str]
) -> None:
    env = {"MAILSIFT_DATABASE_URL": UNREACHABLE, "MAILSIFT_DATA_DIR": str(tmp_path), "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "mailsift", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "database unavailable" in lines[0]
    assert "Traceback" not in done.stderr
    assert "[SQL" not in done.stderr
    assert "sqlalche.me" not in done.stderr


@pytest.mark.postgres
def test_api_answers_503_when_the_database_is_gone(
    migrated_postgres_url: str, make_server: ServerFactory, tmp_path: Path
) -> None:
    settings = api_test_settings(tmp_path / "pg", database_url=migrated_postgres_url)
    server = make_server(settings=settings, workers=1)
    token = server.account()
    client = server.client()
    params = {"user_API_token": token, "job_id": "nope"}
    assert client.post("/job_progress/", data=params).status_code == 404
    name = migrated_postgres_url.rsplit("/", 1)[1]
    admin = migrated_postgres_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    answer = client.post("/job_progress/", data=params)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.json() == {
        "status": "failed",
        "message": "The service is temporarily unavailable (its database cannot be reached).",
    }
