"""Result files behind signed links: no token needed, the signature is the permission."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from mailsift.api.errors import ApiError
from mailsift.api.links import LinkExpired, LinkInvalid
from mailsift.api.routes import service
from mailsift.jobs.results import iter_result_csv, result_filenames
from mailsift.jobs.service import find_job
from mailsift.store.models import JobStage


async def download(
    request: Request,
    public_id: str,
    which: str,
    expires: str = "",
    signature: str = "",
) -> StreamingResponse:
    """One result file of a completed job, as CSV (UTF-8), streamed from the store."""
    api = service(request)
    try:
        checked = api.links.check(public_id, which, expires, signature)
    except LinkInvalid as exc:
        raise ApiError(403, str(exc)) from exc
    except LinkExpired as exc:
        raise ApiError(410, str(exc)) from exc
    job = await find_job(api.store, public_id)
    if job is None or job.stage != JobStage.COMPLETED:
        raise ApiError(404, "Job not found.")
    filename = result_filenames(job)[checked]
    return StreamingResponse(
        iter_result_csv(api.store, job, checked),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "Cache-Control": "private, no-store",
        },
    )


def build_router() -> APIRouter:
    router = APIRouter()
    router.add_api_route(
        "/download/{public_id}/{which}.csv",
        download,
        methods=["GET"],
        responses={403: {"description": "Bad signature."}, 410: {"description": "Expired."}},
    )
    return router
