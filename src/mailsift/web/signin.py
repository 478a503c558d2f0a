"""Signing in and out, and setting a password from a one-time link."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailsift.accounts import throttle
from mailsift.accounts.logins import (
    LoginError,
    check_password,
    check_password_rules,
    login_of,
    normalize_email,
    set_login,
    signin_link_account,
    use_signin_link,
)
from mailsift.accounts.websessions import close_session, open_session
from mailsift.web.auth import (
    SESSION_COOKIE,
    clear_session_cookie,
    form_of,
    safe_next,
    service,
    set_session_cookie,
    set_signin_cookie,
    signin_csrf,
    signin_csrf_matches,
    visitor,
)
from mailsift.web.render import page

WRONG = "Wrong email or password."
router = APIRouter(include_in_schema=False)


def _signin_page(
    request: Request, *, message: str = "", email: str = "", next_path: str = "", status: int = 200
) -> Response:
    token = signin_csrf(request)
    response = page(
        request,
        "signin.html",
        signin_csrf=token,
        message=message,
        email=email,
        next_path=safe_next(next_path or request.query_params.get("next")),
        status_code=status,
    )
    set_signin_cookie(request, response, token)
    return response


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    return _signin_page(request)


@router.post("/signin")
async def signin(request: Request) -> Response:
    store = service(request).store
    form = await request.form()
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    next_path = safe_next(form.get("next"))
    if not signin_csrf_matches(request, form.get("csrf_token")):
        return _signin_page(
            request,
            message="The form expired: please sign in again.",
            email=email,
            next_path=next_path,
            status=403,
        )
    client = request.client.host if request.client else "unknown"
    keys = [throttle.login_key(email), throttle.client_key(client)]
    wait = await throttle.wait_left(store, keys)
    if wait > 0:
        message = f"Too many failed attempts: try again in {max(1, round(wait))} seconds."
        return _signin_page(request, message=message, email=email, next_path=next_path, status=429)
    account_id = await check_password(store, email, password)
    if account_id is None:
        await throttle.failed(store, keys)
        return _signin_page(request, message=WRONG, email=email, next_path=next_path, status=401)
    await throttle.succeeded(store, keys[0])
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, response, await open_session(store, account_id))
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    signed_in = await visitor(request)
    await form_of(request, signed_in)
    await close_session(service(request).store, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/signin", status_code=303)
    clear_session_cookie(request, response)
    return response


async def _link_page(
    request: Request, token: str, *, message: str = "", status: int = 200
) -> Response:
    store = service(request).store
    account_id = await signin_link_account(store, token)
    if account_id is None:
        return page(request, "link_used.html", status_code=410)
    login = await login_of(store, account_id)
    csrf = signin_csrf(request)
    response = page(
        request,
        "set_password.html",
        token=token,
        signin_csrf=csrf,
        email=login.email if login else "",
        message=message,
        status_code=status,
    )
    set_signin_cookie(request, response, csrf)
    return response


@router.get("/signin/link/{token}")
async def link_form(request: Request, token: str) -> Response:
    return await _link_page(request, token)


@router.post("/signin/link/{token}")
async def link_set_password(request: Request, token: str) -> Response:
    store = service(request).store
    form = await request.form()
    if not signin_csrf_matches(request, form.get("csrf_token")):
        return await _link_page(request, token, message="The form expired: try again.", status=403)
    password = str(form.get("password", ""))
    if password != str(form.get("confirm", "")):
        return await _link_page(request, token, message="The two passwords differ.", status=422)
    email = str(form.get("email", "")).strip() or None
    try:
        check_password_rules(password)
        if email is not None:
            normalize_email(email)
    except LoginError as exc:
        return await _link_page(request, token, message=exc.message, status=422)
    account_id = await use_signin_link(store, token)  # used up first: a link sets one password
    if account_id is None:
        return page(request, "link_used.html", status_code=410)
    try:
        await set_login(store, account_id, email, password)
    except LoginError as exc:  # the email belongs to another account: the link is spent
        return page(request, "link_used.html", message=exc.message, status_code=409)
    response = RedirectResponse("/upload", status_code=303)
    set_session_cookie(request, response, await open_session(store, account_id))
    return response
