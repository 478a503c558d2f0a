"""``GET /metrics``: off unless ``MAILSIFT_METRICS`` is set or a metrics token is configured
(then only with ``Authorization: Bearer <token>``); unknown paths and a disabled endpoint answer
alike."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mailsift.api.config import ApiSettings
from mailsift.api.errors import ApiError
from mailsift.api.routes import service
from mailsift.metrics import CONTENT_TYPE, render
from mailsift.store.gauges import read_gauges


def build_router(config: ApiSettings) -> APIRouter:
    router = APIRouter()
    if not (config.metrics or config.metrics_token):
        return router
    expected = f"Bearer {config.metrics_token}".encode()

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if config.metrics_token:
            given = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                raise ApiError(
                    401, "Metrics need the header Authorization: Bearer <metrics token>."
                )
        api = service(request)
        gauges = await read_gauges(api.store)
        siblings = await api.engine.metrics()
        return Response(render(gauges, siblings=siblings), media_type=CONTENT_TYPE)

    return router
