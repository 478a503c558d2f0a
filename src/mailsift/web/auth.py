"""Who is signed in, and the checks every form goes through.

The session cookie is ``HttpOnly``, ``SameSite=Lax`` and, when the dashboard is reached over
HTTPS (directly, through a proxy that says so, or by a ``public_url`` starting ``https``),
``Secure``. Every form carries the session's CSRF token (htmx sends it as a header); the
sign-in form, which comes before any session, carries one from a cookie of its own.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from mailsift.accounts.websessions import SESSION_TTL, SignedIn, find_session
from mailsift.api.service import ApiService
from mailsift.store.models import Account

SESSION_COOKIE = "mailsift_session"
SIGNIN_COOKIE = "mailsift_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInFirst(Exception):
    """The page needs a signed-in visitor; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form without this session's CSRF token: answered 403, nothing done."""


@dataclass(frozen=True, slots=True)
class Visitor:
    signed: SignedIn
    account: Account
    cookie: str

    @property
    def csrf(self) -> str:
        return self.signed.csrf_token


def service(request: Request) -> ApiService:
    found: ApiService = request.app.state.service
    return found


async def visitor(request: Request) -> Visitor:
    token = request.cookies.get(SESSION_COOKIE, "")
    store = service(request).store
    found = await find_session(store, token)
    if found is None:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        raise SignInFirst(target)
    signed, account = found
    return Visitor(signed, account, token)


def check_csrf(request: Request, visitor: Visitor, form: FormData | dict[str, str]) -> None:
    given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    if not isinstance(given, str) or not visitor.signed.csrf_matches(given):
        raise CsrfRefused


async def form_of(request: Request, visitor: Visitor) -> FormData:
    """The posted form, once its CSRF token is checked."""
    form = await request.form()
    check_csrf(request, visitor, form)
    return form


def is_secure(request: Request) -> bool:
    public = service(request).config.public_url
    return request.url.scheme == "https" or public.startswith("https://")


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=is_secure(request), path="/"
    )


def signin_csrf(request: Request) -> str:
    """The sign-in form's CSRF token (from its cookie, or a new one)."""
    return request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)


def set_signin_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SIGNIN_COOKIE, token, httponly=True, samesite="lax", secure=is_secure(request), path="/"
    )


def signin_csrf_matches(request: Request, given: object) -> bool:
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(given, expected)


def signin_url(next_path: str) -> str:
    if not next_path.startswith("/") or next_path.startswith("//"):
        next_path = "/"
    return "/signin?next=" + quote(next_path, safe="/")


def safe_next(value: object) -> str:
    """A local path to go to after signing in (never another site)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/upload"
