"""One address verified now and charged for: the real-time check of the API and the dashboard.

One credit per syntactically valid address, taken before asking and given back when the
engine itself failed (``unexpected_error``, or an exception), so a caller is never charged
for mailsift's own fault. The API spends API credit, the dashboard monthly credit.
"""

from __future__ import annotations

from typing import Protocol

from mailsift.accounts.credits import charge_one, refund_one
from mailsift.accounts.ledger import Balance
from mailsift.store.engine import Store
from mailsift.verify.address import ParsedAddress, parse_address
from mailsift.verify.model import Reason, Verification


class OneAddressVerifier(Protocol):
    async def verify_one(self, address: str, *, within: float | None = None) -> Verification: ...


async def verify_charged(
    store: Store,
    verifier: OneAddressVerifier,
    account_id: int,
    email: str,
    within: float,
    *,
    balance: Balance = Balance.API,
) -> Verification:
    """Verify ``email`` within ``within`` seconds; ``InsufficientCredit`` when none is left."""
    billable = isinstance(parse_address(email), ParsedAddress)
    if billable:
        await charge_one(store, account_id, note="real-time verification", balance=balance)
    try:
        verification = await verifier.verify_one(email, within=within)
    except BaseException:  # the engine failed, or the server is shutting down
        if billable:
            await refund_one(store, account_id, note="verification failed", balance=balance)
        raise
    if billable and verification.reason == Reason.UNEXPECTED_ERROR:
        await refund_one(store, account_id, note="verification failed", balance=balance)
    return verification
