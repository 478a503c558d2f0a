"""The FastAPI application: routes, error answers, and the service behind them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from mailsift import __version__, web
from mailsift.api import downloads, intelligence, metrics_route, routes
from mailsift.api.config import ApiSettings
from mailsift.api.errors import install_handlers
from mailsift.api.ratelimit import client_address
from mailsift.api.service import running_service
from mailsift.dispatch.engine_host import EngineVerifier
from mailsift.settings import Settings

DESCRIPTION = """\
Email verification without sending mail. The calls mirror the hosted "Email Verifier App"
API: every call is a POST taking a url-encoded form, a multipart form or a JSON object, and
authenticated by the body parameter `user_API_token` (case-sensitive). Failed answers are
`{"status": "failed", "message": "…"}` with a fitting HTTP status.
"""


class ClientAddress:
    """Makes the request's client address known to the limits (``ratelimit.client_address``).

    Behind a reverse proxy, uvicorn takes it from ``X-Forwarded-For`` when the proxy's address
    is in ``FORWARDED_ALLOW_IPS`` (default: 127.0.0.1 only).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        token = client_address.set(str(client[0]) if client else "")
        try:
            await self.app(scope, receive, send)
        finally:
            client_address.reset(token)


def create_app(
    settings: Settings,
    config: ApiSettings | None = None,
    *,
    verifier: EngineVerifier | None = None,
    workers: int | None = None,
    engine_process: bool = False,
) -> FastAPI:
    """The API; ``workers`` chunk workers run for it (default: ``config.workers``, 0: none),
    in a child process of its own with ``engine_process``, else on the server's loop."""
    config = config or ApiSettings()
    worker_count = config.workers if workers is None else workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_service(
            settings,
            config,
            verifier=verifier,
            workers=worker_count,
            engine_process=engine_process,
        ) as service:
            app.state.service = service
            yield

    app = FastAPI(
        title="mailsift",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.add_middleware(ClientAddress)
    install_handlers(app)
    if config.cors_origins:
        # The token travels in the body, never in a cookie: no credentials are allowed.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            max_age=600,
        )
    app.include_router(routes.build_router())
    app.include_router(downloads.build_router())
    app.include_router(intelligence.build_router())
    app.include_router(metrics_route.build_router(config))
    web.install(app)
    return app
