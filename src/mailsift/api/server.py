"""``mailsift serve``: migrate, make a first account on the very first start, run uvicorn.

uvicorn turns SIGTERM and SIGINT into a graceful shutdown: it stops taking connections,
lets requests in progress finish (for a bounded time), then the application's lifespan stops
the embedded workers. A chunk they were running is queued again at the next start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from mailsift.accounts.logins import new_signin_link
from mailsift.accounts.service import count_accounts, create_account
from mailsift.api.app import create_app
from mailsift.api.config import ApiSettings, url_host
from mailsift.api.docs import curl_example
from mailsift.api.secret import load_secret
from mailsift.dispatch.host_slots import process_name
from mailsift.logs import configure_logging
from mailsift.settings import Settings
from mailsift.store import database_url, open_store, upgrade
from mailsift.store.signing_keys import record_signing_key

FIRST_ACCOUNT = "admin"
FIRST_API_CREDITS = 1_000
FIRST_MONTHLY_CREDITS = 10_000
GRACEFUL_SECONDS = 10


@dataclass(frozen=True, slots=True)
class FirstAccount:
    name: str
    token: str
    webhook_secret: str
    signin_link: str  # the token of a one-time link to set the dashboard password


async def prepare(url: str, key: bytes) -> FirstAccount | None:
    """Note which key this node signs links with (for ``mailsift doctor`` to compare); create
    the first account when there is none (``None`` when accounts exist)."""
    async with open_store(url) as store:
        await record_signing_key(store, key, process_name())
        if await count_accounts(store):
            return None
        account, token = await create_account(
            store,
            FIRST_ACCOUNT,
            api_credits=FIRST_API_CREDITS,
            monthly_credits=FIRST_MONTHLY_CREDITS,
        )
        link = await new_signin_link(store, account.id)
    return FirstAccount(account.name, token, account.webhook_secret, link)


def welcome(first: FirstAccount, base_url: str) -> list[str]:
    return [
        f'First start: created the account "{first.name}" with {FIRST_API_CREDITS:,} API '
        f"and {FIRST_MONTHLY_CREDITS:,} monthly credits.",
        "Try it:",
        "",
        "  " + curl_example(base_url, first.token),
        "",
        f"Dashboard: {base_url}/ . Set its sign-in email and password at this one-time link",
        "(valid 2 days; `mailsift accounts signin-link admin --email E` makes another):",
        "",
        f"  {base_url}/signin/link/{first.signin_link}",
        "",
        f"Its callback signing secret: {first.webhook_secret}",
        "Its API token, shown only this once (mailsift accounts rotate-token makes a new one):",
        first.token,
    ]


def serve(
    settings: Settings,
    config: ApiSettings,
    *,
    workers: bool = True,
    echo: Callable[[str], None] = print,
) -> None:
    """Run the server at ``settings.host``:``settings.port`` until SIGTERM or SIGINT."""
    url = database_url(settings.database_url, settings.data_dir)
    upgrade(url)
    first = asyncio.run(prepare(url, load_secret(settings.data_dir, config.secret_key)))
    if first is not None:
        base_url = config.public_url or f"http://{url_host(settings.host)}:{settings.port}"
        for line in welcome(first, base_url):
            echo(line)
    configure_logging(settings.log_format, settings.log_level)
    workers_here = config.workers if workers else 0
    app = create_app(settings, config, workers=workers_here, engine_process=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            log_config=None,  # configure_logging's handler writes uvicorn's lines too
            log_level=settings.log_level.lower(),
            access_log=config.access_log,
        )
    )
    server.run()
