"""The Credits page: both balances, converting monthly credit into API credit (with a
preview first), and the ledger, exportable as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from mailsift.accounts.errors import AccountError
from mailsift.accounts.service import convert_credits
from mailsift.accounts.statement import LedgerLine, ledger_lines, ledger_page
from mailsift.jobs.csvsafe import safe_cells
from mailsift.store.models import Account
from mailsift.web.auth import form_of, service, visitor
from mailsift.web.render import view

MAX_AMOUNT = 10**12
LEDGER_HEADER = ["date", "kind", "monthly change", "monthly after", "API change", "API after",
                 "reason", "job"]  # fmt: skip
KIND_WORDS = {
    "grant": "Credit granted",
    "convert": "Converted monthly to API credit",
    "reserve": "Reserved for a list",
    "settle": "List finished: unused credit back",
    "charge": "One address checked",
    "refund": "Check failed: credit back",
}
router = APIRouter(include_in_schema=False)


def conversion(account: Account, raw: str) -> tuple[int | None, str]:
    """The amount asked for, and what is wrong with it ("" when it can be converted)."""
    raw = raw.strip().replace(",", "").replace("_", "")
    if not raw:
        return None, ""
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_AMOUNT:
        return None, "Give a whole number of credits, at least 1."
    amount = int(raw)
    if amount > account.monthly_credits:
        return amount, f"You have {account.monthly_credits:,} monthly credits: not enough."
    return amount, ""


@router.get("/credits")
async def credits_page(request: Request) -> Response:
    signed_in = await visitor(request)
    page_no = request.query_params.get("page", "1")
    lines, pages = await ledger_page(
        service(request).store, signed_in.account.id, page=int(page_no) if page_no.isdigit() else 1
    )
    amount, problem = conversion(signed_in.account, request.query_params.get("amount", ""))
    return view(
        request,
        signed_in,
        "credits.html",
        lines=lines,
        page_no=min(max(1, int(page_no) if page_no.isdigit() else 1), pages),
        pages=pages,
        kinds=KIND_WORDS,
        amount=amount,
        problem=problem,
        converted=request.query_params.get("converted", ""),
    )


@router.get("/credits/preview")
async def preview(request: Request) -> Response:
    """The conversion preview alone (htmx swaps it in as the amount is typed)."""
    signed_in = await visitor(request)
    amount, problem = conversion(signed_in.account, request.query_params.get("amount", ""))
    return view(request, signed_in, "convert_preview.html", amount=amount, problem=problem)


@router.post("/credits/convert")
async def convert(request: Request) -> Response:
    signed_in = await visitor(request)
    form = await form_of(request, signed_in)
    amount, problem = conversion(signed_in.account, str(form.get("amount", "")))
    if amount is not None and not problem:
        try:
            await convert_credits(service(request).store, signed_in.account.id, amount)
        except AccountError as exc:
            problem = exc.message
    if amount is None or problem:
        response = await credits_page(request)
        response.status_code = 422
        return response
    return RedirectResponse(f"/credits?converted={amount}", status_code=303)


def _csv_line(line: LedgerLine) -> list[str]:
    # Numbers and kinds are our own words; only the notes and file names could hold a formula.
    return [
        line.at.isoformat(timespec="seconds"),
        line.kind,
        str(line.monthly_change),
        str(line.monthly_after),
        str(line.api_change),
        str(line.api_after),
        *safe_cells([line.note, line.job_name]),
    ]


@router.get("/credits/ledger.csv")
async def ledger_csv(request: Request) -> Response:
    signed_in = await visitor(request)
    store = service(request).store

    async def rows() -> AsyncIterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(LEDGER_HEADER)
        async for line in ledger_lines(store, signed_in.account.id):
            writer.writerow(_csv_line(line))
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="mailsift-ledger.csv"',
            "Cache-Control": "private, no-store",
        },
    )
