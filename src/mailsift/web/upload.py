"""The Upload page: files (dropped, browsed, several at once) or pasted addresses, a preview
with the email column and what it will cost, then the start. Uploads spend monthly credit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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
from mailsift.web.preview import ListPreview, preview_list
from mailsift.web.render import view

PASTED_NAME = "pasted-addresses.txt"
router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class FileCheck:
    """One staged file, previewed; ``refused`` says why the intake would not take it."""

    index: int
    filename: str
    preview: ListPreview | None
    refused: str = ""


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


def _columns_chosen(values: dict[str, str], count: int) -> dict[int, int]:
    chosen: dict[int, int] = {}
    for n in range(count):
        value = values.get(f"column_{n}", "")
        if value.isdigit():
            chosen[n] = int(value)
    return chosen


async def _checks(
    request: Request, files: list[staging.StagedFile], chosen: dict[int, int]
) -> list[FileCheck]:
    limits = _limits(request)
    checks = []
    for n, file in enumerate(files):
        try:
            preview = await asyncio.to_thread(
                preview_list, file.path, file.filename, limits, chosen.get(n)
            )
        except IntakeError as exc:
            checks.append(FileCheck(n, file.filename, None, exc.message))
            continue
        checks.append(FileCheck(n, file.filename, preview))
    return checks


async def _preview_page(
    request: Request,
    signed_in: Visitor,
    stage_id: str,
    chosen: dict[int, int],
    *,
    message: str = "",
    status: int = 200,
) -> Response:
    files = staging.staged(_root(request), signed_in.signed.session_id, stage_id)
    if files is None:
        return _again(request, signed_in, "That upload is gone: upload the lists again.", 404)
    checks = await _checks(request, files, chosen)
    accepted = [check for check in checks if check.preview is not None]
    needed = sum(check.preview.credits_needed for check in accepted if check.preview)
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
    return await _preview_page(request, signed_in, stage_id, _columns_chosen(values, 100))


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
    chosen = _columns_chosen(values, len(files))
    wanted = {int(str(v)) for k, v in form.multi_items() if k == "file" and str(v).isdigit()}
    lists = [
        ListFile(file.path, file.filename, chosen.get(n))
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
    )
    try:
        jobs = await submit_lists(api.store, signed_in.account, lists, options)
    except Refusal as refusal:
        return await _preview_page(
            request, signed_in, stage_id, chosen, message=refusal.message, status=422
        )
    base_url = api.base_url(request)
    for job in jobs:
        await api.job_accepted(job, base_url)
    await asyncio.to_thread(staging.discard, root, signed_in.signed.session_id, stage_id)
    target = f"/jobs/{jobs[0].public_id}" if len(jobs) == 1 else "/jobs"
    return RedirectResponse(target, status_code=303)
