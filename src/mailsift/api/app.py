"""The FastAPI application: routes, error answers, and the service behind them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mailsift import __version__
from mailsift.api import downloads, metrics_route, routes
from mailsift.api.config import ApiSettings
from mailsift.api.errors import install_handlers
from mailsift.api.service import EngineVerifier, running_service
from mailsift.settings import Settings

DESCRIPTION = """\
Email verification without sending mail. The calls mirror the hosted "Email Verifier App"
API: every call is a POST taking a url-encoded form, a multipart form or a JSON object, and
authenticated by the body parameter `user_API_token` (case-sensitive). Failed answers are
`{"status": "failed", "message": "…"}` with a fitting HTTP status.
"""


def create_app(
    settings: Settings,
    config: ApiSettings | None = None,
    *,
    verifier: EngineVerifier | None = None,
    workers: int | None = None,
) -> FastAPI:
    """The API; ``workers`` chunk workers run inside it (default: ``config.workers``, 0: none)."""
    config = config or ApiSettings()
    worker_count = config.workers if workers is None else workers

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_service(
            settings, config, verifier=verifier, workers=worker_count
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
    install_handlers(app)
    app.include_router(routes.build_router())
    app.include_router(downloads.build_router())
    app.include_router(metrics_route.build_router(config))
    return app
