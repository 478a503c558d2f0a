"""Mounting the dashboard on the API's application: its pages, static files, error pages."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from mailsift.web import apitoken, check, credits, jobs, signin, upload
from mailsift.web.auth import CsrfRefused, SignInFirst, signin_url, visitor
from mailsift.web.render import STATIC, page


async def home(request: Request) -> Response:
    await visitor(request)
    return RedirectResponse("/upload", status_code=303)


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_api_route("/", home, methods=["GET"], include_in_schema=False)
    for module in (signin, upload, jobs, check, credits, apitoken):
        app.include_router(module.router)

    async def sign_in_first(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInFirst)
        target = signin_url(exc.next_path)
        if request.headers.get("hx-request"):  # htmx follows this header, not a redirect
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def csrf_refused(request: Request, exc: Exception) -> Response:
        return page(request, "csrf.html", status_code=403)

    app.add_exception_handler(SignInFirst, sign_in_first)
    app.add_exception_handler(CsrfRefused, csrf_refused)
