"""The calls: ``/batch_process/``, ``/job_progress/``, ``/get_results/``,
``/email_verification/`` and ``/convert_credits/``, each also without its trailing slash."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from mailsift.accounts.credits import charge_one, job_reservation, jobs_in_flight, refund_one
from mailsift.accounts.errors import AccountError, InsufficientCredit, TooManyJobs
from mailsift.accounts.service import convert_credits as convert
from mailsift.api import docs
from mailsift.api.answers import progress_answer, realtime_answer, results_answer
from mailsift.api.body import FILE_FIELD, Body, Upload, read_body
from mailsift.api.errors import ApiError
from mailsift.api.params import bounded_number, misspelled, optional, required, token
from mailsift.api.service import ApiService
from mailsift.jobs.intake import IntakeError, IntakeLimits
from mailsift.jobs.service import create_job
from mailsift.store.models import Account, Job, JobSource
from mailsift.verify.address import ParsedAddress, parse_address
from mailsift.verify.model import Reason, Verification

MIN_TIMEOUT, MAX_TIMEOUT = 2.0, 60.0
WITHDRAWN = "Withdrawn: another list of the same upload was refused."


def get_service(request: Request) -> ApiService:
    service: ApiService = request.app.state.service
    return service


Service = Annotated[ApiService, Depends(get_service)]


async def batch_process(request: Request, api: Service) -> JSONResponse:
    """Upload one or more lists; each file becomes a job, verified in the background."""
    async with read_body(request, api.upload_limits, api.upload_root) as body:
        account = await api.authenticate(token(body))
        uploads = _lists(body)
        callback_url = optional(body, "callback_url") or None
        if callback_url:
            await api.check_callback(callback_url)
        await _check_room(api, account, len(uploads))
        jobs = await _create_jobs(api, account, uploads, callback_url)
    base_url = api.base_url(request)
    for job in jobs:
        await api.job_accepted(job, base_url)
    return JSONResponse({"status": "success", "job_id": [job.public_id for job in jobs]})


def _lists(body: Body) -> list[Upload]:
    for upload in body.uploads:
        if upload.field != FILE_FIELD:
            error = misspelled(body, FILE_FIELD)
            raise error or ApiError(
                400, f"Upload lists in the field {FILE_FIELD!r}, not {upload.field!r}."
            )
    if not body.uploads:
        raise misspelled(body, FILE_FIELD) or ApiError(
            400, f"Upload at least one list in the field {FILE_FIELD!r} (multipart/form-data)."
        )
    return body.uploads


async def _check_room(api: ApiService, account: Account, new_jobs: int) -> None:
    """Refuse early, before reading any list, an upload over the cap of jobs in flight."""
    cap = api.config.max_jobs_in_flight
    if not cap:
        return
    async with api.store.read() as session:
        running = await jobs_in_flight(session, account.id)
    if running + new_jobs > cap:
        raise ApiError(429, TooManyJobs(cap).message)


async def _create_jobs(
    api: ApiService, account: Account, uploads: list[Upload], callback_url: str | None
) -> list[Job]:
    """One job per upload, all or none: a refused list withdraws those before it."""
    reserve = job_reservation(account.id, max_in_flight=api.config.max_jobs_in_flight or None)
    limits = IntakeLimits(max_bytes=api.config.max_upload_bytes)
    created: list[Job] = []
    for upload in uploads:
        try:
            job = await create_job(
                api.store,
                upload.path,
                upload.filename,
                source=JobSource.API,
                account=account,
                reserve=reserve,
                callback_url=callback_url,
                limits=limits,
            )
        except Exception as exc:
            await api.withdraw(created, WITHDRAWN)
            prefix = f"{upload.filename}: " if len(uploads) > 1 else ""
            raise _refusal(exc, prefix) from exc
        created.append(job)
    return created


def _refusal(exc: Exception, prefix: str) -> Exception:
    if isinstance(exc, IntakeError):
        return ApiError(422, prefix + exc.message)
    if isinstance(exc, InsufficientCredit):
        return ApiError(402, prefix + exc.message)
    if isinstance(exc, TooManyJobs):
        return ApiError(429, exc.message)
    return exc


async def job_progress(request: Request, api: Service) -> JSONResponse:
    """How far a job has got."""
    async with read_body(request, api.form_limits) as body:
        job = await api.owned_job(token(body), optional(body, "job_id"))
    return JSONResponse(progress_answer(job))


async def get_results(request: Request, api: Service) -> JSONResponse:
    """Progress, and once the job is completed, links to its three result files."""
    async with read_body(request, api.form_limits) as body:
        job = await api.owned_job(token(body), optional(body, "job_id"))
    return JSONResponse(results_answer(job, api.result_links(job, api.base_url(request))))


async def email_verification(request: Request, api: Service) -> JSONResponse:
    """Verify one address now (costs one API credit unless its syntax is invalid)."""
    async with read_body(request, api.form_limits) as body:
        account = await api.authenticate(token(body))
        email = required(body, "email")
        default = api.config.realtime_timeout
        timeout = bounded_number(body, "timeout", low=MIN_TIMEOUT, high=MAX_TIMEOUT)
    wait = api.limiter.acquire(account.id)
    if wait:
        retry_after = str(math.ceil(wait))
        raise ApiError(
            429,
            f"Too many real-time verifications: try again in {retry_after} s.",
            headers={"Retry-After": retry_after},
        )
    verification = await _verify_charged(api, account, email, timeout or default)
    return JSONResponse(realtime_answer(verification))


async def _verify_charged(
    api: ApiService, account: Account, email: str, within: float
) -> Verification:
    """Verify, charging one credit; given back when the engine itself failed."""
    billable = isinstance(parse_address(email), ParsedAddress)
    if billable:
        try:
            await charge_one(api.store, account.id, note="real-time verification")
        except InsufficientCredit as exc:
            raise ApiError(402, exc.message) from exc
    try:
        verification = await api.verifier.verify_one(email, within=within)
    except Exception:
        if billable:
            await refund_one(api.store, account.id, note="verification failed")
        raise
    if billable and verification.reason is Reason.UNEXPECTED_ERROR:
        await refund_one(api.store, account.id, note="verification failed")
    return verification


async def convert_credits(request: Request, api: Service) -> JSONResponse:
    """Turn monthly credit into API credit."""
    async with read_body(request, api.form_limits) as body:
        account = await api.authenticate(token(body))
        amount = bounded_number(body, "credits", low=1, high=1e12)
    if amount is None:
        raise ApiError(400, "The parameter credits is required.")
    if not amount.is_integer():
        raise ApiError(422, "credits must be a whole number.")
    try:
        updated = await convert(api.store, account.id, int(amount))
    except AccountError as exc:
        raise ApiError(402, exc.message) from exc
    return JSONResponse(
        {
            "status": "success",
            "api_credits": updated.api_credits,
            "monthly_credits": updated.monthly_credits,
        }
    )


def _route(
    router: APIRouter,
    path: str,
    handler: Callable[..., Any],
    answer: type,
    fields: dict[str, docs.Param],
    required_fields: list[str],
    codes: tuple[int, ...],
    *,
    files: bool = False,
) -> None:
    extra = docs.request_body(fields, required_fields, files=files)
    responses: dict[int | str, dict[str, Any]] = {200: {"model": answer}}
    responses.update(docs.failures(*codes))
    router.add_api_route(path, handler, methods=["POST"], openapi_extra=extra, responses=responses)
    router.add_api_route(path.rstrip("/"), handler, methods=["POST"], include_in_schema=False)


def build_router() -> APIRouter:
    router = APIRouter()
    token_only = {"user_API_token": docs.TOKEN_PARAM}
    with_job = {**token_only, "job_id": docs.JOB_ID_PARAM}
    callback = {
        "type": "string",
        "description": "Optional http(s) URL: when the job completes, the /get_results/ "
        "answer (plus job_id) is POSTed there as JSON, signed in X-Mailsift-Signature.",
    }
    email = {"type": "string", "description": "The address to verify."}
    timeout = {
        "type": "number",
        "minimum": MIN_TIMEOUT,
        "maximum": MAX_TIMEOUT,
        "description": "Seconds to wait for the mail server at most (default 30).",
    }
    credits = {"type": "integer", "minimum": 1, "description": "Monthly credits to convert."}
    upload = {**token_only, "callback_url": callback}
    batch_codes = (400, 401, 402, 413, 422, 429)
    _route(router, "/batch_process/", batch_process, docs.BatchAnswer, upload,
           ["user_API_token"], batch_codes, files=True)  # fmt: skip
    _route(router, "/job_progress/", job_progress, docs.ProgressAnswer, with_job,
           ["user_API_token", "job_id"], (400, 401, 404, 413))  # fmt: skip
    _route(router, "/get_results/", get_results, docs.ResultsAnswer, with_job,
           ["user_API_token", "job_id"], (400, 401, 404, 413))  # fmt: skip
    _route(router, "/email_verification/", email_verification, docs.VerificationAnswer,
           {**token_only, "email": email, "timeout": timeout}, ["user_API_token", "email"],
           (400, 401, 402, 413, 422, 429))  # fmt: skip
    _route(router, "/convert_credits/", convert_credits, docs.ConvertAnswer,
           {**token_only, "credits": credits}, ["user_API_token", "credits"],
           (400, 401, 402, 413, 422))  # fmt: skip
    return router
