"""The calls: ``/batch_process/``, ``/job_progress/``, ``/get_results/``,
``/email_verification/`` and ``/convert_credits/``, each also without its trailing slash."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from mailsift.accounts.errors import AccountError, InsufficientCredit
from mailsift.accounts.service import convert_credits as convert
from mailsift.api import docs
from mailsift.api.answers import progress_answer, realtime_answer, results_answer
from mailsift.api.body import FILE_FIELD, Body, Upload, read_body, read_params
from mailsift.api.errors import ApiError
from mailsift.api.params import (
    TOKEN,
    bounded_number,
    misspelled,
    optional,
    required,
    switch,
    token,
)
from mailsift.api.ratelimit import too_many
from mailsift.api.service import ApiService
from mailsift.jobs.realtime import verify_charged
from mailsift.jobs.submit import ListFile, Refusal, RefusalKind, SubmitOptions, spends, submit_lists
from mailsift.metrics import REALTIME_SECONDS
from mailsift.store.models import JobSource

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class DirectRoute(APIRoute):
    """A route whose endpoint takes the bare request.

    The calls read their bodies themselves (form, multipart and JSON alike), so FastAPI's
    parameter machinery would only add work to every request; the OpenAPI description
    comes from ``docs`` all the same.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


def service(request: Request) -> ApiService:
    found: ApiService = request.app.state.service
    return found


async def batch_process(request: Request) -> JSONResponse:
    """Upload one or more lists; each file becomes a job, verified in the background."""
    api = service(request)
    async with read_body(request, api.upload_limits, api.upload_root) as body:
        account = await api.authenticate(token(body))
        uploads = _lists(body)
        callback_url = optional(body, "callback_url") or None
        if callback_url:
            await api.check_callback(callback_url)
        options = SubmitOptions(
            source=JobSource.API,
            balance=spends(JobSource.API),
            max_jobs_in_flight=api.config.max_jobs_in_flight,
            max_upload_bytes=api.config.max_upload_bytes,
            callback_url=callback_url,
            sheet=optional(body, "sheet") or None,
            email_column=optional(body, "email_column") or None,
            link_base=api.base_url(request),
        )
        files = [ListFile(upload.path, upload.filename) for upload in uploads]
        try:
            jobs = await submit_lists(api.store, account, files, options)
        except Refusal as refusal:
            raise ApiError(REFUSAL_STATUS[refusal.kind], refusal.message) from refusal
    for job in jobs:
        await api.job_accepted(job)
    return JSONResponse({"status": "success", "job_id": [job.public_id for job in jobs]})


REFUSAL_STATUS = {
    RefusalKind.TOO_MANY_JOBS: 429,
    RefusalKind.NO_CREDIT: 402,
    RefusalKind.BAD_LIST: 422,
    RefusalKind.UNKNOWN_CHOICE: 400,
}


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


async def job_progress(request: Request) -> JSONResponse:
    """How far a job has got."""
    api = service(request)
    body = await read_params(request, api.form_limits)
    job = await api.owned_job(token(body), optional(body, "job_id"))
    return JSONResponse(progress_answer(job))


async def get_results(request: Request) -> JSONResponse:
    """Progress, and once the job is completed, links to its three result files."""
    api = service(request)
    body = await read_params(request, api.form_limits)
    job = await api.owned_job(token(body), optional(body, "job_id"))
    return JSONResponse(results_answer(job, api.result_links(job, api.base_url(request))))


async def callback_status(request: Request) -> JSONResponse:
    """Where a job's callback delivery stands (a mailsift extension of the hosted API)."""
    api = service(request)
    body = await read_params(request, api.form_limits)
    job = await api.owned_job(token(body), optional(body, "job_id"))
    return JSONResponse(await api.callback_status(job))


async def email_verification(request: Request) -> JSONResponse:
    """Verify one address now (costs one API credit unless its syntax is invalid)."""
    api = service(request)
    body = await read_params(request, api.form_limits)
    account_id = await api.account_id(token(body))
    email = required(body, "email")
    timeout = bounded_number(body, "timeout", low=docs.MIN_TIMEOUT, high=docs.MAX_TIMEOUT)
    for flag in docs.REALTIME_FLAGS:
        switch(body, flag)
    wait = await api.limiter.acquire(account_id)
    if wait:
        raise too_many("real-time verifications", wait)
    within = timeout or api.config.realtime_timeout
    started = time.perf_counter()
    try:
        verification = await verify_charged(api.store, api.engine, account_id, email, within)
    except InsufficientCredit as exc:
        raise ApiError(402, exc.message) from exc
    REALTIME_SECONDS.labels(str(verification.result)).observe(time.perf_counter() - started)
    suppressions = await api.suppressions.current()
    suppressed_by = suppressions.lookup(account_id, verification.normalized)
    return JSONResponse(realtime_answer(verification, suppressed_by))


async def convert_credits(request: Request) -> JSONResponse:
    """Turn monthly credit into API credit."""
    api = service(request)
    body = await read_params(request, api.form_limits)
    account_id = await api.account_id(token(body))
    amount = bounded_number(body, "credits", low=1, high=docs.MAX_CREDITS)
    if amount is None:
        raise ApiError(400, "The parameter credits is required.")
    if not amount.is_integer():
        raise ApiError(422, "credits must be a whole number.")
    try:
        updated = await convert(api.store, account_id, int(amount))
    except AccountError as exc:
        raise ApiError(402, exc.message) from exc
    return JSONResponse(
        {
            "status": "success",
            "api_credits": updated.api_credits,
            "monthly_credits": updated.monthly_credits,
        }
    )


@dataclass(frozen=True, slots=True)
class _Call:
    path: str
    handler: Callable[[Request], Coroutine[Any, Any, Response]]
    answer: type
    fields: dict[str, docs.Param]
    required: tuple[str, ...]
    failures: tuple[int, ...]
    files: bool = False


def _calls() -> list[_Call]:
    # The polled calls come first: routes are matched in order.
    token_only = {TOKEN: docs.TOKEN_PARAM}
    with_job = {**token_only, "job_id": docs.JOB_ID_PARAM}
    return [
        _Call("/job_progress/", job_progress, docs.ProgressAnswer, with_job,
              (TOKEN, "job_id"), (400, 401, 404, 413, 429)),
        _Call("/get_results/", get_results, docs.ResultsAnswer, with_job,
              (TOKEN, "job_id"), (400, 401, 404, 413, 429)),
        _Call("/callback_status/", callback_status, docs.CallbackAnswer, with_job,
              (TOKEN, "job_id"), (400, 401, 404, 413, 429)),
        _Call("/email_verification/", email_verification, docs.VerificationAnswer,
              {**token_only, "email": docs.EMAIL_PARAM, "timeout": docs.TIMEOUT_PARAM,
               **dict.fromkeys(docs.REALTIME_FLAGS, docs.FLAG_PARAM)},
              (TOKEN, "email"), (400, 401, 402, 413, 422, 429)),
        _Call("/batch_process/", batch_process, docs.BatchAnswer,
              {**token_only, "callback_url": docs.CALLBACK_PARAM, "sheet": docs.SHEET_PARAM,
               "email_column": docs.EMAIL_COLUMN_PARAM},
              (TOKEN,), (400, 401, 402, 413, 422, 429), files=True),
        _Call("/convert_credits/", convert_credits, docs.ConvertAnswer,
              {**token_only, "credits": docs.CREDITS_PARAM},
              (TOKEN, "credits"), (400, 401, 402, 413, 422, 429)),
    ]  # fmt: skip


def build_router() -> APIRouter:
    """Every call at its path, and again without the trailing slash (not in the docs)."""
    router = APIRouter(route_class=DirectRoute)
    for call in _calls():
        responses: dict[int | str, dict[str, Any]] = {200: {"model": call.answer}}
        responses.update(docs.failures(*call.failures))
        router.add_api_route(
            call.path,
            call.handler,
            methods=["POST"],
            openapi_extra=docs.request_body(call.fields, list(call.required), files=call.files),
            responses=responses,
        )
        router.add_api_route(
            call.path.rstrip("/"), call.handler, methods=["POST"], include_in_schema=False
        )
    return router
