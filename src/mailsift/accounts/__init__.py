"""Accounts: API tokens (stored hashed), credit balances, and the ledger of every movement."""

from mailsift.accounts.errors import (
    AccountError,
    AccountExists,
    AccountNotFound,
    InsufficientCredit,
    TooManyJobs,
)
from mailsift.accounts.ledger import Balance

__all__ = [
    "AccountError",
    "AccountExists",
    "AccountNotFound",
    "Balance",
    "InsufficientCredit",
    "TooManyJobs",
]
