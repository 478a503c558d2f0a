"""The Upload page: files (dropped, browsed, several at once) or pasted addresses, a preview
with the email column and what it will cost, then the start. Uploads spend monthly credit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailsift.api.body import read_body
from mailsift.api.errors import ApiError
from mailsift.jobs.intake import IntakeError, IntakeLimits
from mailsift.jobs.submit import ListFile, Refusal, SubmitOptions, spends, submit_lists
from mailsift.store.models import JobSource
from mailsift.web import staging
from mailsift.web.auth import Visitor, check_csrf, form_of, service, visitor
from mailsift.web.preview import ListCheck, check_list
from mailsift.web.render import view

PASTED_NAME = "pasted-addresses.txt"
MAX_FILES = 100
router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class FileCheck:
    """One staged file, previewed; ``refused`` says why the intake would not take it."""

    index: int
    filename: str
    check: ListCheck | None
    refused: str = ""
    sheet: str | None = None  # the uploader's choices, as the intake takes them
    column: str | None = None


def _root(request: Request) -> Path:
    return service(request).upload_root


def _limits(request: Request) -> IntakeLimits:
    return IntakeLimits(max_bytes=service(request).config.max_upload_bytes)


@router.get("/upload")
async def upload_form(request: Request) -> Response:
    signed_in = await visitor(request)
    return view(request, signed_in, "upload.html", message="")


@router.post("/upload")
async def upload(request: Request) -> Response:
    signed_in = await visitor(request)
    api = service(request)
    try:
        async with read_body(request, api.upload_limits, api.upload_root) as body:
            check_csrf(request, signed_in, {k: v[0] for k, v in body.fields.items() if v})
            files = [
                (upload.path, upload.filename)
                for upload in body.uploads
                if upload.path.stat().st_size > 0
            ]
            pasted = "\n".join(body.values("pasted")).strip()
            if not files and not pasted:
                return _again(request, signed_in, "Choose one or more files, or paste addresses.")
            stage_id = await asyncio.to_thread(
                staging.stage,
                api.upload_root,
                signed_in.signed.session_id,
                files,
                (PASTED_NAME, pasted) if pasted else None,
            )
    except ApiError as exc:  # too large, too many files, a broken form
        return _again(request, signed_in, exc.message, status=exc.status_code)
    return RedirectResponse(f"/upload/{stage_id}", status_code=303)


def _again(request: Request, signed_in: Visitor, message: str, status: int = 422) -> Response:
    response = view(request, signed_in, "upload.html", message=message)
    response.status_code = status
    return response


Choices = dict[int, tuple[str | None, str | None]]


def _choices(values: dict[str, str], count: int) -> Choices:
    """The sheet and column (a 1-based number) the uploader chose for each file."""
    chosen: Choices = {}
    for n in range(count):
        column = values.get(f"column_{n}", "").strip()
        sheet = values.get(f"sheet_{n}", "").strip()
        chosen[n] = (sheet or None, column if column.isdigit() else None)
    return chosen


async def _checks(
    request: Request, files: list[staging.StagedFile], chosen: Choices
) -> list[FileCheck]:
    limits = _limits(request)
    checks = []
    for n, file in enumerate(files):
        sheet, column = chosen.get(n, (None, None))
        try:
            check = await asyncio.to_thread(
                partial(check_list, file.path, file.filename, limits, sheet=sheet, column=column)
            )
        except IntakeError as exc:
            checks.append(FileCheck(n, file.filename, None, exc.message, sheet, column))
            continue
        checks.append(FileCheck(n, file.filename, check, "", sheet, column))
    return checks


async def _preview_page(
    request: Request,
    signed_in: Visitor,
    stage_id: str,
    chosen: Choices,
    *,
    message: str = "",
    status: int = 200,
) -> Response:
    files = staging.staged(_root(request), signed_in.signed.session_id, stage_id)
    if files is None:
        return _again(request, signed_in, "That upload is gone: upload the lists again.", 404)
    checks = await _checks(request, files, chosen)
    accepted = [check for check in checks if check.check is not None]
    needed = sum(check.check.credits_needed for check in accepted if check.check)
    response = view(
        request,
        signed_in,
        "preview.html",
        stage_id=stage_id,
        checks=checks,
        accepted=accepted,
        needed=needed,
        enough=needed <= signed_in.account.monthly_credits,
        message=message,
    )
    response.status_code = status
    return response


@router.get("/upload/{stage_id}")
async def preview(request: Request, stage_id: str) -> Response:
    signed_in = await visitor(request)
    values = dict(request.query_params.items())
    return await _preview_page(request, signed_in, stage_id, _choices(values, MAX_FILES))


@router.post("/upload/{stage_id}/start")
async def start(request: Request, stage_id: str) -> Response:
    signed_in = await visitor(request)
    form = await form_of(request, signed_in)
    values = {key: str(value) for key, value in form.items()}
    api = service(request)
    root = api.upload_root
    files = staging.staged(root, signed_in.signed.session_id, stage_id)
    if files is None:
        return _again(request, signed_in, "That upload is gone: upload the lists again.", 404)
    chosen = _choices(values, len(files))
    wanted = {int(str(v)) for k, v in form.multi_items() if k == "file" and str(v).isdigit()}
    lists = [
        ListFile(file.path, file.filename, *chosen[n])
        for n, file in enumerate(files)
        if n in wanted
    ]
    if not lists:
        return await _preview_page(
            request, signed_in, stage_id, chosen, message="No list to start.", status=422
        )
    options = SubmitOptions(
        source=JobSource.DASHBOARD,
        balance=spends(JobSource.DASHBOARD),
        max_jobs_in_flight=api.config.max_jobs_in_flight,
        max_upload_bytes=api.config.max_upload_bytes,
        link_base=api.base_url(request),
    )
    try:
        jobs = await submit_lists(api.store, signed_in.account, lists, options)
    except Refusal as refusal:
        return await _preview_page(
            request, signed_in, stage_id, chosen, message=refusal.message, status=422
        )
    for job in jobs:
        await api.job_accepted(job)
    await asyncio.to_thread(staging.discard, root, signed_in.signed.session_id, stage_id)
    target = f"/jobs/{jobs[0].public_id}" if len(jobs) == 1 else "/jobs"
    return RedirectResponse(target, status_code=303)
