"""The dashboard over real HTTP: a live server (the API tests' fixtures) and a browser-like
client that signs in, keeps its cookies and posts forms with their CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from mailsift.accounts.logins import set_login
from mailsift.accounts.service import create_account
from mailsift.store import Store
from tests.api.conftest import (  # noqa: F401 (the live server's fixtures, shared)
    Harness,
    ServerFactory,
    api_world,
    make_server,
    server,
)
from tests.api.test_serve import serve, serve_env  # noqa: F401 (mailsift serve's fixtures)

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Owner:
    name: str
    email: str
    token: str
    account_id: int


def dashboard_owner(
    harness: Harness,
    name: str = "acme",
    *,
    monthly: int = 1_000,
    api: int = 100,
    password: str = PASSWORD,
) -> Owner:
    email = f"{name}@example.com"

    async def create(store: Store) -> Owner:
        account, token = await create_account(store, name, api_credits=api, monthly_credits=monthly)
        await set_login(store, account.id, email, password)
        return Owner(name, email, token, account.id)

    return harness.run(create)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def signed_in(harness: Harness, owner: Owner, password: str = PASSWORD) -> httpx.Client:
    """A client with a session cookie, after signing in through the form."""
    client = harness.client(follow_redirects=False)
    form = client.get("/signin")
    answer = client.post(
        "/signin",
        data={"email": owner.email, "password": password, "csrf_token": csrf_of(form.text)},
    )
    assert answer.status_code == 303, answer.text
    return client
