"""``mailsift accounts`` for the dashboard: sign-in emails, passwords, one-time links."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mailsift.accounts.logins import check_password, login_of, signin_link_account
from mailsift.accounts.service import get_account
from mailsift.cli import accounts
from mailsift.store import database_url, open_store

PASSWORD = "a long enough password"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> typer.Typer:
    monkeypatch.setenv("MAILSIFT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MAILSIFT_PUBLIC_URL", "https://verify.example.com")
    monkeypatch.delenv("MAILSIFT_DATABASE_URL", raising=False)
    app = typer.Typer()
    app.callback()(lambda: None)
    accounts.register(app)
    return app


def run(app: typer.Typer, *args: str, stdin: str = "", code: int = 0) -> str:
    result = CliRunner().invoke(app, ["accounts", *args], input=stdin)
    assert result.exit_code == code, result.output
    return result.output


def signs_in(tmp_path: Path, email: str, password: str) -> bool:
    async def check() -> bool:
        async with open_store(database_url("", tmp_path / "data")) as store:
            return await check_password(store, email, password) is not None

    return asyncio.run(check())


def link_token(output: str) -> str:
    found = re.search(r"https://verify\.example\.com/signin/link/(\S+)", output)
    assert found, output
    return found.group(1)


def test_create_with_an_email_prints_a_one_time_link(cli: typer.Typer, tmp_path: Path) -> None:
    output = run(cli, "create", "Ann@Acme.Example", "--monthly-credits", "100")
    assert output.splitlines()[-1].startswith("ms_")  # the token stays alone on the last line
    token = link_token(output)

    async def check() -> tuple[int | None, str]:
        async with open_store(database_url("", tmp_path / "data")) as store:
            account = await get_account(store, "Ann@Acme.Example")
            login = await login_of(store, account.id)
            assert login is not None
            return await signin_link_account(store, token), login.email

    account_id, email = asyncio.run(check())
    assert account_id is not None
    assert email == "ann@acme.example"
    assert not signs_in(tmp_path, email, PASSWORD)  # no password until the link sets one


def test_create_and_set_password_from_stdin(cli: typer.Typer, tmp_path: Path) -> None:
    output = run(cli, "create", "acme", "--email", "it@acme.example", "--password-stdin",
                 stdin=PASSWORD + "\n")  # fmt: skip
    assert "/signin/link/" not in output
    assert signs_in(tmp_path, "it@acme.example", PASSWORD)
    run(cli, "set-password", "it@acme.example", "--password-stdin", stdin="another password!\n")
    assert not signs_in(tmp_path, "it@acme.example", PASSWORD)
    assert signs_in(tmp_path, "it@acme.example", "another password!")


def test_a_short_password_is_refused(cli: typer.Typer, tmp_path: Path) -> None:
    run(cli, "create", "acme")
    output = run(cli, "set-password", "acme", "--email", "a@b.example", "--password-stdin",
                 stdin="short\n", code=2)  # fmt: skip
    assert "at least 10 characters" in output


def test_signin_link_for_an_account_without_an_email(cli: typer.Typer) -> None:
    run(cli, "create", "acme")
    assert "add --email" in run(cli, "signin-link", "acme", code=2)
    output = run(cli, "signin-link", "acme", "--email", "ops@acme.example")
    assert link_token(output)
    assert "ops@acme.example" in output
