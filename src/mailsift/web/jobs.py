"""The Jobs list, one job's page, its live progress (server-sent events, or polling), its
result files, and cancelling it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from mailsift.jobs.cancel import cancel_job
from mailsift.jobs.listing import (
    counts_by_result,
    job_page,
    owned_job,
    owned_jobs,
    seconds_left,
)
from mailsift.jobs.results import ALL, FILES, Which, iter_result_csv, result_filenames
from mailsift.jobs.service import result_counts
from mailsift.store.models import ACTIVE_STAGES, Job, JobStage
from mailsift.web.auth import form_of, service, visitor
from mailsift.web.charts import bar_chart, result_bars
from mailsift.web.reasons import RESULT_ORDER, RESULT_WORDS, explain
from mailsift.web.render import duration, view

EVENT_INTERVAL = 1.0
EVENT_STREAM_SECONDS = 60.0  # then the browser reconnects (EventSource does so by itself)
MAX_WATCHED = 50
DOWNLOADABLE = (JobStage.COMPLETED, JobStage.CANCELLED)
SHOWN_RESULTS = ("valid", "invalid", "risky", "unknown")
router = APIRouter(include_in_schema=False)


def progress_of(job: Job, counts: dict[str, int] | None = None) -> dict[str, object]:
    """What the pages show of a job's progress, and what the live updates send."""
    return {
        "id": job.public_id,
        "stage": job.stage,
        "percentage": job.percentage,
        "done": job.done,
        "total": job.total,
        "left": duration(seconds_left(job)),
        "active": job.stage in ACTIVE_STAGES,
        "counts": counts or {},
        "summary": counts_text(job.done, job.total, counts or {}),
        "message": job.message,
    }


def counts_text(done: int, total: int, counts: dict[str, int]) -> str:
    """``40 of 100 done · valid 30 · invalid 10``, as the page shows it (live updates too)."""
    parts = [f"{done:,} of {total:,} done"]
    parts += [f"{result} {counts[result]:,}" for result in SHOWN_RESULTS if counts.get(result)]
    return " · ".join(parts)


@router.get("/jobs")
async def jobs_list(request: Request) -> Response:
    signed_in = await visitor(request)
    search = request.query_params.get("q", "")[:200]
    page_no = request.query_params.get("page", "1")
    listing = await job_page(
        service(request).store,
        signed_in.account.id,
        search=search,
        page=int(page_no) if page_no.isdigit() else 1,
    )
    rows = [progress_of(job, listing.counts[job.id]) for job in listing.jobs]
    return view(
        request,
        signed_in,
        "jobs.html",
        listing=listing,
        rows=zip(listing.jobs, rows, strict=True),
        watched=",".join(job.public_id for job in listing.jobs if job.stage in ACTIVE_STAGES),
        search=search,
        results=RESULT_ORDER,
    )


@router.get("/jobs/progress")
async def progress(request: Request) -> Response:
    """The polling fallback: the progress of the given jobs (``ids``, comma-separated)."""
    signed_in = await visitor(request)
    return JSONResponse(await _progress(request, signed_in.account.id))


async def _progress(request: Request, account_id: int) -> list[dict[str, object]]:
    ids = [i for i in request.query_params.get("ids", "").split(",") if i][:MAX_WATCHED]
    store = service(request).store
    jobs = await owned_jobs(store, account_id, ids)
    counts = await counts_by_result(store, [job.id for job in jobs])
    return [progress_of(job, counts[job.id]) for job in jobs]


@router.get("/jobs/events")
async def events(request: Request) -> Response:
    """Server-sent events: the progress of the given jobs whenever it changes."""
    signed_in = await visitor(request)

    async def stream() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        last = ""
        until = time.monotonic() + EVENT_STREAM_SECONDS
        while time.monotonic() < until and not await request.is_disconnected():
            current = await _progress(request, signed_in.account.id)
            text = json.dumps(current)
            if text != last:
                yield f"data: {text}\n\n"
                last = text
            if not any(item["active"] for item in current):
                yield "event: finished\ndata: {}\n\n"
                return
            await asyncio.sleep(EVENT_INTERVAL)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/jobs/{public_id}")
async def job_detail(request: Request, public_id: str) -> Response:
    signed_in = await visitor(request)
    store = service(request).store
    job = await owned_job(store, signed_in.account.id, public_id)
    if job is None:
        response = view(request, signed_in, "not_found.html", what="job")
        response.status_code = 404
        return response
    by_reason = await result_counts(store, job.id)
    by_result: dict[str, int] = {}
    for (result, _), count in by_reason.items():
        by_result[result] = by_result.get(result, 0) + count
    reasons = sorted(
        ((result, reason, count, explain(reason)) for (result, reason), count in by_reason.items()),
        key=lambda item: (RESULT_ORDER.index(item[0]) if item[0] in RESULT_ORDER else 9, -item[2]),
    )
    names = result_filenames(job)
    downloads: list[tuple[str, str, str]] = []
    if job.stage in DOWNLOADABLE:
        labels = {"valid": "Valid", "invalid": "Invalid", "unknown": "Unknown and risky"}
        downloads = [(which, labels[which], names[which]) for which in FILES]
        downloads.append((ALL, "All results", _all_name(job)))
    return view(
        request,
        signed_in,
        "job.html",
        job=job,
        live=progress_of(job, by_result),
        chart=bar_chart(result_bars(by_result), f"Results of {job.filename}"),
        by_result=[(RESULT_WORDS[r], by_result.get(r, 0)) for r in RESULT_ORDER],
        reasons=reasons,
        downloads=downloads,
        cancellable=job.stage in ACTIVE_STAGES,
        cancelled=request.query_params.get("cancelled", ""),
        words=RESULT_WORDS,
    )


def _all_name(job: Job) -> str:
    return result_filenames(job)["valid"].removesuffix("-valid.csv") + "-all.csv"


@router.get("/jobs/{public_id}/download/{which}.csv")
async def download(request: Request, public_id: str, which: str) -> Response:
    signed_in = await visitor(request)
    store = service(request).store
    job = await owned_job(store, signed_in.account.id, public_id)
    if job is None or job.stage not in DOWNLOADABLE or which not in (*FILES, ALL):
        return Response("Not found.", status_code=404, media_type="text/plain")
    chosen: Which | Literal["all"] = ALL
    for name in FILES:
        if which == name:
            chosen = name
    filename = _all_name(job) if chosen == ALL else result_filenames(job)[chosen]
    return StreamingResponse(
        iter_result_csv(store, job, chosen),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/jobs/{public_id}/cancel")
async def cancel(request: Request, public_id: str) -> Response:
    signed_in = await visitor(request)
    await form_of(request, signed_in)
    store = service(request).store
    job = await owned_job(store, signed_in.account.id, public_id)
    if job is None:
        return Response("Not found.", status_code=404, media_type="text/plain")
    refunded = await cancel_job(store, signed_in.account.id, job.id)
    query = f"?cancelled={refunded}" if refunded is not None else ""
    return RedirectResponse(f"/jobs/{public_id}{query}", status_code=303)
