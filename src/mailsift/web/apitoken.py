"""The API page: the token (shown once, right after it is made), rotating it, a ready curl
line with this server's address, and the way to the API's documentation."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailsift.accounts.service import rotate_token
from mailsift.accounts.websessions import set_flash, take_flash
from mailsift.api.docs import curl_example
from mailsift.web.auth import form_of, service, visitor
from mailsift.web.render import view

PLACEHOLDER = "YOUR_API_TOKEN"
router = APIRouter(include_in_schema=False)


@router.get("/api-token")
async def token_page(request: Request) -> Response:
    signed_in = await visitor(request)
    api = service(request)
    token = await take_flash(api.store, signed_in.signed.session_id)
    base_url = api.base_url(request)
    return view(
        request,
        signed_in,
        "api_token.html",
        token=token,
        hint=signed_in.account.token_hint,
        curl=curl_example(base_url, token or PLACEHOLDER),
        base_url=base_url,
    )


@router.post("/api-token/rotate")
async def rotate(request: Request) -> Response:
    signed_in = await visitor(request)
    await form_of(request, signed_in)
    store = service(request).store
    token = await rotate_token(store, signed_in.account.name)
    await set_flash(store, signed_in.signed.session_id, token)
    return RedirectResponse("/api-token", status_code=303)
