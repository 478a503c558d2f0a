"""Pages from Jinja2 templates, with what every page shows: the account and its balances."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from mailsift.store.models import Account
from mailsift.web.auth import Visitor

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    # Scripts and styles only from this server; htmx's own indicator styles are switched off.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # a sign-in link's token never leaves in a Referer
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("mailsift.web", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates change only with a release
    )
    env.filters["number"] = lambda n: f"{int(n):,}"
    env.filters["signed"] = lambda n: f"{int(n):+,}" if n else "0"
    env.filters["when"] = _when
    env.filters["duration"] = duration
    env.globals["asset"] = asset_url
    return env


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def duration(seconds: float | None) -> str:
    """``about 3 min`` and the like; ``""`` when unknown."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "under a minute"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"about {minutes} min"
    return f"about {minutes / 60:.1f} h"


@lru_cache(maxsize=32)
def asset_url(name: str) -> str:
    """``/static/<name>?v=<hash>``: browsers may cache it for good, a new release busts it."""
    digest = hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def page(
    request: Request,
    template: str,
    *,
    account: Account | None = None,
    csrf: str = "",
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            account=account,
            csrf=csrf,
            htmx_headers=json.dumps({"X-CSRF-Token": csrf}) if csrf else "",
            path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def view(request: Request, visitor: Visitor, template: str, **context: Any) -> HTMLResponse:
    """A page for a signed-in visitor: their account and balances, their CSRF token."""
    return page(request, template, account=visitor.account, csrf=visitor.csrf, **context)
