"""A typed Python client for the mailsift HTTP API, synchronous and asynchronous.

    from mailsift.client import Client

    with Client("https://verify.example.com", token) as client:
        [job_id] = client.batch_process("customers.csv")
        results = client.wait(job_id)  # polls /job_progress/ with backoff
        paths = client.download(results, "out/")  # valid.csv, invalid.csv, unknown.csv
        print(client.verify_email("alice@example.com").result)

``AsyncClient`` has the same methods, to be awaited. Only httpx is needed: the client imports
nothing of the server.
"""

from mailsift.client.asynchronous import AsyncClient
from mailsift.client.calls import (
    Backoff,
    EmailVerification,
    JobProgress,
    JobResults,
    ResultFile,
)
from mailsift.client.errors import ApiError, ClientError, JobFailed, TransportError
from mailsift.client.synchronous import Client

__all__ = [
    "ApiError",
    "AsyncClient",
    "Backoff",
    "Client",
    "ClientError",
    "EmailVerification",
    "JobFailed",
    "JobProgress",
    "JobResults",
    "ResultFile",
    "TransportError",
]
