#!/usr/bin/env python3
"""Verify a list with the mailsift API, using nothing but Python's standard library.

    MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... python3 verify_list.py customers.csv alice@example.com

Uploads the list to /batch_process/, polls /job_progress/ until the job is Completed, asks
/get_results/ for the three links and saves valid.csv, invalid.csv and unknown.csv in the
current directory, then verifies one address in real time with /email_verification/.
A failed answer prints its message and exits with status 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

BASE_URL = os.environ.get("MAILSIFT_URL", "http://127.0.0.1:8000").rstrip("/")
TOKEN = os.environ.get("MAILSIFT_TOKEN", "")
POLL_SECONDS = float(os.environ.get("MAILSIFT_POLL_SECONDS", "5"))


class Failed(Exception):
    """The server answered with a failed status (or not at all)."""


def post(path: str, body: bytes, content_type: str) -> dict[str, object]:
    request = urllib.request.Request(
        BASE_URL + path, data=body, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:  # 4xx/5xx still carry {"status": "failed", ...}
        try:
            answer = json.load(error)
        except ValueError:
            raise Failed(f"{path} answered HTTP {error.code}") from None
    except urllib.error.URLError as error:
        raise Failed(f"cannot reach {BASE_URL}: {error.reason}") from None
    if answer.get("status") == "failed":
        raise Failed(str(answer.get("message", "failed")))
    return answer


def post_form(path: str, fields: dict[str, str]) -> dict[str, object]:
    body = urllib.parse.urlencode(fields).encode()
    return post(path, body, "application/x-www-form-urlencoded")


def upload(list_path: Path) -> str:
    """POST the file as multipart/form-data (field ``file``); the job's id."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="user_API_token"\r\n\r\n'
        f"{TOKEN}\r\n".encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{list_path.name}"\r\nContent-Type: text/csv\r\n\r\n'.encode(),
        list_path.read_bytes(),
        f"\r\n--{boundary}--\r\n".encode(),
    ]
    answer = post("/batch_process/", b"".join(parts), f"multipart/form-data; boundary={boundary}")
    job_ids = answer["job_id"]
    assert isinstance(job_ids, list)
    return str(job_ids[0])


def wait_until_completed(job_id: str) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        progress = post_form("/job_progress/", {"user_API_token": TOKEN, "job_id": job_id})
        print(f"{progress['stage']} {progress['percentage']}%")
        if progress["stage"] == "Completed":
            return
        if progress["stage"] in ("Failed", "Cancelled"):
            raise Failed(str(progress.get("message", f"the job was {progress['stage']}")))


def download(url: str, target: Path) -> None:
    """Result links are signed: no token needed."""
    try:
        with urllib.request.urlopen(url, timeout=120) as response, target.open("wb") as out:
            while chunk := response.read(64 * 1024):
                out.write(chunk)
    except urllib.error.URLError as error:
        raise Failed(f"downloading {target.name}: {error}") from None
    print(f"saved {target.name}")


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: verify_list.py LIST_FILE EMAIL", file=sys.stderr)
        return 2
    list_path, email = Path(sys.argv[1]), sys.argv[2]
    try:
        job_id = upload(list_path)
        print(f"job {job_id}")
        wait_until_completed(job_id)
        results = post_form("/get_results/", {"user_API_token": TOKEN, "job_id": job_id})
        for name, link in (
            ("valid", "valid_result_link"),
            ("invalid", "invalid_result_link"),
            ("unknown", "unknown_link"),
        ):
            download(str(results[link]), Path(f"{name}.csv"))
        answer = post_form("/email_verification/", {"user_API_token": TOKEN, "email": email})
        print(f"{answer['email']}: {answer['result']} ({answer['reason']})")
    except Failed as failure:
        print(f"mailsift: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
