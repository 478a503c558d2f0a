#!/usr/bin/env python3
"""The same integration as verify_list.py, with mailsift's own client (``pip install mailsift``).

    MAILSIFT_URL=http://127.0.0.1:8000 MAILSIFT_TOKEN=... python3 with_client.py customers.csv alice@example.com

``mailsift.client`` needs only httpx; ``AsyncClient`` offers the same calls to ``await``.
"""

from __future__ import annotations

import os
import sys

from mailsift.client import Backoff, Client, ClientError, JobProgress


def show(progress: JobProgress) -> None:
    print(f"{progress.stage} {progress.percentage}%")


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: with_client.py LIST_FILE EMAIL", file=sys.stderr)
        return 2
    list_path, email = sys.argv[1:]
    url = os.environ.get("MAILSIFT_URL", "http://127.0.0.1:8000")
    poll = float(os.environ.get("MAILSIFT_POLL_SECONDS", "5"))
    try:
        # Polls every `poll` seconds at first, then less often (up to every 15 s).
        with Client(url, os.environ["MAILSIFT_TOKEN"], backoff=Backoff(initial=poll)) as client:
            [job_id] = client.batch_process(list_path)
            print(f"job {job_id}")
            results = client.wait(job_id, on_progress=show)
            for path in client.download(results, ".").values():
                print(f"saved {path.name}")
            verdict = client.verify_email(email)
            print(f"{verdict.email}: {verdict.result} ({verdict.reason})")
    except ClientError as failure:  # a failed answer, a failed job, or no answer at all
        print(f"mailsift: {failure.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
