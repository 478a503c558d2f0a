"""What ``/docs`` shows: every parameter and every answer field, described.

The handlers read their bodies themselves (form, multipart or JSON alike), so the request
bodies are described here by hand; the answers are pydantic models used only for the schema.
"""

from __future__ import annotations

import shlex
from typing import Any, Literal

from pydantic import BaseModel, Field

from mailsift.api.params import TOKEN

Param = dict[str, Any]

# The calls trim every value and refuse a required one left empty.
NOT_BLANK: Param = {"minLength": 1, "pattern": r"\S"}

TOKEN_PARAM: Param = {
    "type": "string",
    **NOT_BLANK,
    "description": f"Your API token. Exactly `{TOKEN}`: the name is case-sensitive.",
}
JOB_ID_PARAM: Param = {
    "type": "string",
    **NOT_BLANK,
    "description": "One job id, as `/batch_process/` gave it. One id per request.",
}
CALLBACK_PARAM: Param = {
    "type": "string",
    "format": "uri",
    "pattern": "^https?://",
    "description": "Optional http(s) URL: when a job completes, its /get_results/ answer "
    "(plus job_id) is POSTed there as JSON, signed in X-Mailsift-Signature.",
}
SHEET_PARAM: Param = {
    "type": "string",
    "description": "mailsift extension, optional: the worksheet of an XLSX list that holds the "
    "addresses, by name or number from 1 (default: the sheet with the best email column). "
    "A sheet the workbook does not have is a 400 naming the sheets it has.",
}
EMAIL_COLUMN_PARAM: Param = {
    "type": "string",
    "description": "mailsift extension, optional: the column that holds the addresses, by "
    "header or number from 1 (default: the column found to hold them). A column the list "
    "does not have is a 400 naming the columns it has.",
}
EMAIL_PARAM: Param = {"type": "string", **NOT_BLANK, "description": "The address to verify."}
MIN_TIMEOUT, MAX_TIMEOUT = 2.0, 60.0
TIMEOUT_PARAM: Param = {
    "type": "number",
    "minimum": MIN_TIMEOUT,
    "maximum": MAX_TIMEOUT,
    "description": "At most this many seconds for the answer (default 30); past it the "
    "result is unknown / timeout.",
}
MAX_CREDITS = 10**12
# The hosted API's optional switches of the real-time call. mailsift always makes every
# check and answers every field, so they change nothing; they are read and checked.
REALTIME_FLAGS = ("free", "disposable", "did_you_mean", "role", "bad", "ev_score")
FLAG_PARAM: Param = {
    "type": "string",
    "enum": ["true", "false"],
    "description": "Accepted for compatibility (true or false): every check is always made "
    "and every field always answered.",
}
CREDITS_PARAM: Param = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_CREDITS,
    "description": "How many monthly credits to turn into API credits.",
}


def request_body(
    fields: dict[str, Param], required: list[str], *, files: bool = False
) -> dict[str, Any]:
    """An OpenAPI request body offered as url-encoded form, multipart form and JSON."""
    schema = {"type": "object", "properties": fields, "required": required}
    multipart = schema
    if files:
        text = {
            "type": "string",
            **NOT_BLANK,
            "description": "A small list as text, one address a line (or CSV). Repeat the "
            "field (a JSON array) for several lists.",
        }
        schema = {**schema, "properties": {**fields, "file": text}}
        schema["required"] = [*required, "file"]
        upload = {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "The list (CSV, TSV, TXT or XLSX). Repeat the field for several "
            "lists: each becomes its own job.",
        }
        multipart = {**schema, "properties": {**fields, "file": upload}}
        multipart["required"] = [*required, "file"]
    content = {
        "application/x-www-form-urlencoded": {"schema": schema},
        "multipart/form-data": {"schema": multipart},
        "application/json": {"schema": _as_json(schema)},
    }
    return {"requestBody": {"required": True, "content": content}}


def _as_json(schema: dict[str, Any]) -> dict[str, Any]:
    """In JSON a text parameter may also be a number or a boolean: it is taken as its text."""
    properties = {
        name: {**field, "type": ["string", "number", "boolean"]}
        if field.get("type") == "string"
        else field
        for name, field in schema["properties"].items()
    }
    return {**schema, "properties": properties}


class Failure(BaseModel):
    status: Literal["failed"] = "failed"
    message: str = Field(description="What went wrong, in one sentence.")


class BatchAnswer(BaseModel):
    status: Literal["success"] = "success"
    job_id: list[str] = Field(description="One job id per uploaded file, in upload order.")


Stage = Literal["In Queue", "Processing", "Completed", "Failed", "Cancelled"]


class ProgressAnswer(BaseModel):
    status: Literal["success"] = "success"
    percentage: str = Field(
        description='Share of addresses with a final result, two decimals: "0.00" to '
        '"100.00". Never goes backwards; "100.00" only when every address is done.',
        examples=["42.50"],
    )
    stage: Stage = Field(description="Where the job is.")
    message: str | None = Field(
        default=None, description="Why the job stopped; only for Failed and Cancelled."
    )


class ResultsAnswer(ProgressAnswer):
    invalid_result_link: str = Field(
        description='Download URL of the invalid addresses (CSV); "" until Completed.'
    )
    valid_result_link: str = Field(
        description='Download URL of the valid addresses (CSV); "" until Completed.'
    )
    unknown_link: str = Field(
        description='Download URL of the unknown and risky addresses (CSV); "" until '
        "Completed. Links are signed, need no token, and expire."
    )


class VerificationAnswer(BaseModel):
    email: str = Field(description="The address as given, trimmed.")
    normalized: str = Field(description="Lower-cased, IDNA-encoded domain; empty if invalid.")
    result: Literal["valid", "invalid", "risky", "unknown"]
    reason: str = Field(
        description="accepted_email, rejected_email, invalid_email, invalid_domain, "
        "low_quality, low_deliverability, no_connect, timeout, invalid_smtp, "
        "unavailable_smtp or unexpected_error."
    )
    free: bool = Field(description="A free-mail provider's address.")
    disposable: bool = Field(description="A disposable (throwaway) provider's address.")
    role: bool = Field(description="A role account: admin@, info@, …")
    accept_all: bool = Field(description="The domain accepts any address (catch-all).")
    did_you_mean: str = Field(description="A likely correction of a typo, else empty.")
    mx_host: str = Field(description="The mail server asked.")
    smtp_code: int | None = Field(description="Its reply code to RCPT TO, if any.")
    smtp_message: str = Field(description="Its reply text, or what went wrong.")
    greylisted: bool = Field(description="The server answered 4xx before its final word.")
    bad_address: bool = Field(
        description="On a suppression list (spam trap, complainer, unsubscribed…), whatever "
        "the mail server said."
    )
    suppression_list: str = Field(description="The suppression list holding it, else empty.")
    quality_score: int = Field(description="0-100 from the evidence alone (see the docs).")
    status: Literal["Valid", "Invalid", "Risky", "Unknown"] = Field(
        description="The verdict, as the hosted API spells it."
    )
    free_email: bool = Field(description="Same as free (hosted API name).")
    typo_suggest: str = Field(description="Same as did_you_mean (hosted API name).")
    role_address: bool = Field(description="Same as role (hosted API name).")
    ev_score: int = Field(description="Same as quality_score (hosted API name).")
    message: str = Field(description='The verdict in words: "User exists!" and the like.')
    success: bool = Field(description="true: the call succeeded (the second hosted shape).")
    user: str = Field(description="The local part of email, as given.")
    domain: str = Field(description="The domain of email, as given (empty without an @).")
    risky: bool = Field(description="true exactly when result is risky.")
    bad: bool = Field(description="Same as bad_address (the second hosted shape).")


class ConvertAnswer(BaseModel):
    status: Literal["success"] = "success"
    api_credits: int = Field(description="API credit balance after the conversion.")
    monthly_credits: int = Field(description="Monthly credit balance after the conversion.")


class CallbackDelivery(BaseModel):
    url: str = Field(description="The job's callback_url.")
    webhook_id: str = Field(description="The webhook-id header, the same on every retry.")
    state: Literal["waiting", "pending", "delivered", "failed", "gone"] = Field(
        description="waiting: the job is not completed yet; pending: being delivered or "
        "due again at next_attempt_at; delivered: the receiver answered 2xx; failed: every "
        "attempt failed; gone: the receiver answered 410, its URL is called no more."
    )
    attempts: int = Field(description="Attempts made so far.")
    last_status: int | None = Field(description="The receiver's HTTP status last time.")
    last_error: str = Field(description="What went wrong last time, if anything.")
    next_attempt_at: str | None = Field(description="When the next attempt is due (ISO 8601).")
    last_attempt_at: str | None = Field(description="When it was last attempted.")
    delivered_at: str | None = Field(description="When it was delivered.")


class CallbackAnswer(BaseModel):
    status: Literal["success"] = "success"
    job_id: str
    callback: CallbackDelivery | None = Field(
        description="null when the job was submitted without a callback_url."
    )


def failures(*codes: int) -> dict[int | str, dict[str, Any]]:
    meaning = {
        400: "Bad request: a parameter is missing, repeated or misspelled.",
        401: "No or unknown API token.",
        402: "Not enough credit.",
        403: "The download link's signature does not match.",
        404: "No such job (or not yours).",
        410: "The download link has expired.",
        413: "The request body is too large.",
        422: "A value is out of range, or an uploaded list cannot be read.",
        429: "Too many requests (see Retry-After) or too many jobs in progress.",
        503: "The database cannot be reached: try again (see Retry-After).",
    }
    return {code: {"model": Failure, "description": meaning[code]} for code in codes}


def curl_example(base_url: str, token: str) -> str:
    return (
        f"curl -X POST {base_url}/email_verification/ "
        f"-d user_API_token={shlex.quote(token)} -d email=someone@example.com"
    )
