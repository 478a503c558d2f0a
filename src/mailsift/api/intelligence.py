"""The calls beyond the hosted API's: suppression lists, an account's options, deleting a
job and verifying its unknown addresses again."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mailsift.accounts.credits import job_reservation
from mailsift.accounts.errors import AccountError, InsufficientCredit, TooManyJobs
from mailsift.api import docs
from mailsift.api.body import FILE_FIELD, read_body, read_params
from mailsift.api.errors import ApiError
from mailsift.api.params import TOKEN, optional, required, switch, token
from mailsift.api.routes import DirectRoute, Handler, service
from mailsift.jobs.retention import delete_job as delete
from mailsift.jobs.reverify import ReverifyRefused, reverify_unknowns
from mailsift.jobs.service import get_job
from mailsift.jobs.suppression import SuppressionError, entry_key, import_file
from mailsift.store import suppression as lists


async def suppression_import(request: Request) -> JSONResponse:
    """Add a CSV or TXT file of addresses and domains to one of the account's lists."""
    api = service(request)
    async with read_body(request, api.upload_limits, api.upload_root) as body:
        account_id = await api.account_id(token(body))
        name = required(body, "name")
        uploads = [upload for upload in body.uploads if upload.field == FILE_FIELD]
        if len(uploads) != 1:
            raise ApiError(400, f"Upload one list in the field {FILE_FIELD!r}.")
        try:
            report = await import_file(api.store, uploads[0].path, name, account_id)
        except SuppressionError as exc:
            raise ApiError(400, exc.message) from exc
    api.suppressions.invalidate()
    return JSONResponse(
        {
            "status": "success",
            "name": name,
            "read": report.read,
            "added": report.added,
            "rejected": report.rejected,
        }
    )


async def suppression_lists(request: Request) -> JSONResponse:
    """The lists that hold for the account: its own and the global ones."""
    api = service(request)
    body = await read_params(request, api.form_limits)
    account_id = await api.account_id(token(body))
    summaries = await lists.list_summaries(api.store, account_id)
    return JSONResponse(
        {
            "status": "success",
            "lists": [
                {
                    "name": s.name,
                    "scope": "global" if s.account_id is None else "account",
                    "entries": s.entries,
                    "changed_at": s.changed_at.isoformat(timespec="seconds"),
                }
                for s in summaries
            ],
        }
    )


async def suppression_remove(request: Request) -> JSONResponse:
    """Remove one entry (``entry``) of one of the account's lists, or the whole list."""
    api = service(request)
    body = await read_params(request, api.form_limits)
    account_id = await api.account_id(token(body))
    name = required(body, "name")
    entry = optional(body, "entry")
    values = None
    if entry:
        key = entry_key(entry)
        if key is None:
            raise ApiError(400, "entry must be an address or a domain.")
        values = [key]
    removed = await lists.remove_entries(api.store, name, account_id, values)
    if removed is None:
        raise ApiError(404, "No such suppression list.")
    api.suppressions.invalidate()
    return JSONResponse({"status": "success", "removed": removed})


async def account_options(request: Request) -> JSONResponse:
    """Set (or read) the account's options: ``suppressed_to_invalid``."""
    api = service(request)
    body = await read_params(request, api.form_limits)
    account_id = await api.account_id(token(body))
    value = switch(body, "suppressed_to_invalid")
    if value is not None:
        await lists.set_suppressed_to_invalid(api.store, account_id, value)
    current = await lists.suppressed_to_invalid(api.store, account_id)
    return JSONResponse({"status": "success", "suppressed_to_invalid": current})


async def delete_job(request: Request) -> JSONResponse:
    """Delete a job, its addresses and results now (a running job is stopped first)."""
    api = service(request)
    body = await read_params(request, api.form_limits)
    job = await api.owned_job(token(body), optional(body, "job_id"))
    await delete(api.store, job.id)
    return JSONResponse({"status": "success", "message": "The job and its results are deleted."})


async def reverify(request: Request) -> JSONResponse:
    """A new job of a completed job's unknown addresses, merged back into it when done."""
    api = service(request)
    body = await read_params(request, api.form_limits)
    state = await api.owned_job(token(body), optional(body, "job_id"))
    original = await get_job(api.store, state.id)
    if original is None or original.account_id is None:
        raise ApiError(404, "Job not found.")
    reserve = job_reservation(
        original.account_id, max_in_flight=api.config.max_jobs_in_flight or None
    )
    try:
        job = await reverify_unknowns(
            api.store, original, free_window=api.settings.reverify_free_window, reserve=reserve
        )
    except ReverifyRefused as exc:
        raise ApiError(422, exc.message) from exc
    except TooManyJobs as exc:
        raise ApiError(429, exc.message) from exc
    except AccountError as exc:
        raise ApiError(402 if isinstance(exc, InsufficientCredit) else 422, exc.message) from exc
    await api.job_accepted(job)
    return JSONResponse({"status": "success", "job_id": job.public_id, "total": job.total})


_TOKEN = {TOKEN: docs.TOKEN_PARAM}
_NAME = {
    "name": {"type": "string", **docs.NOT_BLANK, "description": "The suppression list's name."}
}
_JOB = {**_TOKEN, "job_id": docs.JOB_ID_PARAM}
_CALLS: list[tuple[str, Handler, dict[str, docs.Param], tuple[str, ...], bool]] = [
    ("/suppression_import/", suppression_import, {**_TOKEN, **_NAME}, (TOKEN, "name"), True),
    ("/suppression_lists/", suppression_lists, _TOKEN, (TOKEN,), False),
    ("/suppression_remove/", suppression_remove,
     {**_TOKEN, **_NAME, "entry": {"type": "string", "description": "One address or domain "
                                   "to remove; without it the whole list goes."}},
     (TOKEN, "name"), False),
    ("/account_options/", account_options,
     {**_TOKEN, "suppressed_to_invalid": {**docs.FLAG_PARAM, "description":
      "true: suppressed addresses go to the invalid file whatever their verdict."}},
     (TOKEN,), False),
    ("/delete_job/", delete_job, _JOB, (TOKEN, "job_id"), False),
    ("/reverify/", reverify, _JOB, (TOKEN, "job_id"), False),
]  # fmt: skip


def build_router() -> APIRouter:
    router = APIRouter(route_class=DirectRoute)
    for path, handler, fields, needed, files in _CALLS:
        router.add_api_route(
            path,
            handler,
            methods=["POST"],
            openapi_extra=docs.request_body(fields, list(needed), files=files),
            responses=docs.failures(400, 401, 402, 404, 413, 422, 429),
        )
        router.add_api_route(path.rstrip("/"), handler, methods=["POST"], include_in_schema=False)
    return router
