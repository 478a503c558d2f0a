"""What goes wrong talking to a mailsift server, by whose side it went wrong on."""

from __future__ import annotations


class ClientError(Exception):
    """Anything the client reports; ``message`` is one sentence fit to show a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TransportError(ClientError):
    """No answer: the server could not be reached, or the connection broke or timed out."""


class ApiError(ClientError):
    """The server answered ``{"status": "failed", "message": …}`` (or not with JSON at all).

    ``retry_after`` is the seconds a 429 answer asks to wait, when it says.
    """

    def __init__(self, message: str, status_code: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class JobFailed(ClientError):
    """The job ended ``Failed`` or ``Cancelled``; the server's message says why."""

    def __init__(self, job_id: str, stage: str, message: str) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.stage = stage
