"""Check one address now: the verdict, its flags, a suggested correction and the evidence.
From the dashboard it spends one monthly credit (none for an address with bad syntax)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from mailsift.accounts.errors import InsufficientCredit
from mailsift.accounts.ledger import Balance
from mailsift.accounts.statement import account_by_id
from mailsift.jobs.realtime import verify_charged
from mailsift.web.auth import form_of, service, visitor
from mailsift.web.reasons import RESULT_WORDS, explain
from mailsift.web.render import view

MAX_ADDRESS = 320
router = APIRouter(include_in_schema=False)


@router.get("/check")
async def check_form(request: Request) -> Response:
    signed_in = await visitor(request)
    return view(request, signed_in, "check.html", email="", verdict=None, message="")


@router.post("/check")
async def check(request: Request) -> Response:
    signed_in = await visitor(request)
    form = await form_of(request, signed_in)
    email = str(form.get("email", "")).strip()[:MAX_ADDRESS]
    api = service(request)
    message, verdict, status = "", None, 200
    wait = await api.limiter.acquire(signed_in.account.id) if email else 0.0
    if not email:
        message, status = "Type an address to check.", 422
    elif wait > 0:
        message, status = f"Too many checks: try again in {max(1, round(wait))} s.", 429
    else:
        try:
            verdict = await verify_charged(
                api.store,
                api.engine,
                signed_in.account.id,
                email,
                api.config.realtime_timeout,
                balance=Balance.MONTHLY,
            )
        except InsufficientCredit as exc:
            message, status = exc.message, 402
    account = await account_by_id(api.store, signed_in.account.id) or signed_in.account
    response = view(
        request,
        signed_in,
        "check.html",
        email=email,
        verdict=verdict,
        words=RESULT_WORDS,
        explanation=explain(verdict.reason) if verdict else None,
        message=message,
        fresh_account=account,
    )
    response.status_code = status
    return response
