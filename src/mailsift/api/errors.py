"""Failed answers: ``{"status": "failed", "message": …}`` with a fitting HTTP status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from mailsift.dispatch.engine_host import EngineStopped
from mailsift.store.errors import StoreError

log = logging.getLogger(__name__)


STORE_DOWN = "The service is temporarily unavailable (its database cannot be reached)."
STORE_RETRY_AFTER = "5"
ENGINE_DOWN = "The service is temporarily unavailable (its verification engine is restarting)."


class ApiError(Exception):
    def __init__(self, status_code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.headers = headers


def failed(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"status": "failed", "message": message}, status_code=status_code, headers=headers
    )


def validation_message(exc: RequestValidationError) -> str:
    """Where and what, never the value sent: it may be a secret (a token in the wrong place)."""
    problems = []
    for error in exc.errors()[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()))
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(problems) + "."


def install_handlers(app: FastAPI) -> None:
    """Every error, ours or the framework's, answered in the same shape."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return failed(exc.status_code, exc.message, exc.headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers) if exc.headers else None
        return failed(exc.status_code, str(exc.detail), headers)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return failed(422, validation_message(exc))

    async def store_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StoreError)
        log.error("answering %s: %s", request.url.path, exc.message)  # the driver's one line
        return failed(503, STORE_DOWN, {"Retry-After": STORE_RETRY_AFTER})

    async def engine_stopped(request: Request, exc: Exception) -> JSONResponse:
        log.error("answering %s: %s", request.url.path, exc)
        return failed(503, ENGINE_DOWN, {"Retry-After": STORE_RETRY_AFTER})

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s", request.url.path, exc_info=exc)
        return failed(500, "Internal server error.")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StoreError, store_error)
    app.add_exception_handler(EngineStopped, engine_stopped)
    app.add_exception_handler(Exception, unexpected)
