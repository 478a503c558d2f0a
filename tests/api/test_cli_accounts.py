"""``mailsift accounts …`` as operators type it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mailsift.accounts.service import authenticate
from mailsift.cli import accounts
from mailsift.store import database_url, open_store


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> typer.Typer:
    monkeypatch.setenv("MAILSIFT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MAILSIFT_DATABASE_URL", raising=False)
    app = typer.Typer()
    app.callback()(lambda: None)
    accounts.register(app)
    return app


def run(app: typer.Typer, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, ["accounts", *args])
    assert result.exit_code == code, result.output
    return result.output


def token_works(tmp_path: Path, token: str) -> bool:
    async def check() -> bool:
        async with open_store(database_url("", tmp_path / "data")) as store:
            return await authenticate(store, token) is not None

    return asyncio.run(check())


def test_create_prints_the_token_alone_on_the_last_line(cli: typer.Typer, tmp_path: Path) -> None:
    output = run(cli, "create", "acme", "--api-credits", "50", "--monthly-credits", "500")
    token = output.splitlines()[-1]
    assert token.startswith("ms_")
    assert token.strip() == token
    assert "50 API and 500 monthly credits" in output
    assert token_works(tmp_path, token)


def test_list_rotate_credit_convert(cli: typer.Typer, tmp_path: Path) -> None:
    first = run(cli, "create", "acme").splitlines()[-1]
    listing = run(cli, "list")
    assert "acme" in listing
    assert first[:8] in listing
    assert first not in listing
    second = run(cli, "rotate-token", "acme").splitlines()[-1]
    assert not token_works(tmp_path, first)
    assert token_works(tmp_path, second)
    assert "now has 10 API and 100 monthly" in run(
        cli, "credit", "acme", "--api", "10", "--monthly", "100"
    )
    assert "now has 40 API and 70 monthly" in run(cli, "convert", "acme", "30")


def test_refusals_are_one_line_errors(cli: typer.Typer) -> None:
    run(cli, "create", "acme", "--api-credits", "5")
    assert "already exists" in run(cli, "create", "acme", code=2)
    assert "No account is named" in run(cli, "rotate-token", "nobody", code=2)
    assert "Not enough API credit" in run(cli, "credit", "acme", "--api", "-6", code=2)
    assert "Not enough monthly credit" in run(cli, "convert", "acme", "1", code=2)
    assert "say how much" in run(cli, "credit", "acme", code=2)
