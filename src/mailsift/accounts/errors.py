"""What can go wrong with an account; each ``message`` is one sentence for its owner."""

from __future__ import annotations


class AccountError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AccountNotFound(AccountError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No account is named {name!r}.")


class AccountExists(AccountError):
    def __init__(self, name: str) -> None:
        super().__init__(f"An account named {name!r} already exists.")


class InsufficientCredit(AccountError):
    """A balance too low for what was asked; nothing was taken."""

    def __init__(self, balance: str, needed: int, available: int) -> None:
        label = "API" if balance == "api" else balance
        super().__init__(f"Not enough {label} credit: {needed:,} needed, {available:,} available.")
        self.balance = balance
        self.needed = needed
        self.available = available


class TooManyJobs(AccountError):
    """The account already has as many unfinished jobs as it may."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Too many jobs in progress: at most {limit} may be queued or processing at once."
        )
        self.limit = limit
