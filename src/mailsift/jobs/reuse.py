"""Reusing an account's earlier results (off unless ``MAILSIFT_RESULT_REUSE_WINDOW`` is set).

With a window, every final result a job stores (valid, invalid, risky: never unknown) is kept
per account and address; a later job of the same account asks the mail server again only
about addresses without such a result younger than the window. Reused rows are marked
``reused`` and their credit is given back when the job is settled.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from mailsift.store.address_results import keep_results, recent_results
from mailsift.store.engine import Store
from mailsift.store.models import utcnow
from mailsift.verify.address import ParsedAddress, parse_address
from mailsift.verify.model import Reason, Result, Verification

FINAL = (Result.VALID, Result.INVALID, Result.RISKY)
NO_ACCOUNT = 0  # jobs of no account (``mailsift verify``) share this key


class ResultReuse:
    def __init__(self, store: Store, window: float) -> None:
        self._store = store
        self.window = window

    async def earlier(
        self, account_id: int | None, emails: Iterable[str]
    ) -> dict[str, Verification]:
        """Earlier results for these addresses (as given), keyed by the address as given."""
        if self.window <= 0:
            return {}
        by_normalized: dict[str, list[str]] = {}
        for email in emails:
            parsed = parse_address(email)
            if isinstance(parsed, ParsedAddress):
                by_normalized.setdefault(parsed.normalized, []).append(email)
        since = utcnow() - timedelta(seconds=self.window)
        found = await recent_results(self._store, _key(account_id), by_normalized, since)
        return {
            email: _verification(email, data)
            for normalized, data in found.items()
            for email in by_normalized[normalized]
        }

    async def keep(self, account_id: int | None, verifications: Iterable[Verification]) -> None:
        if self.window <= 0:
            return
        final = [
            (v.normalized, v.as_dict())
            for v in verifications
            if v.normalized and v.result in FINAL and not v.deferred
        ]
        await keep_results(self._store, _key(account_id), final, utcnow())


def _key(account_id: int | None) -> int:
    return account_id if account_id is not None else NO_ACCOUNT


def _verification(email: str, data: dict[str, object]) -> Verification:
    return Verification(
        email=email,
        normalized=str(data["normalized"]),
        result=Result(str(data["result"])),
        reason=Reason(str(data["reason"])),
        free=bool(data.get("free")),
        disposable=bool(data.get("disposable")),
        role=bool(data.get("role")),
        accept_all=bool(data.get("accept_all")),
        did_you_mean=str(data.get("did_you_mean") or ""),
        mx_host=str(data.get("mx_host") or ""),
        smtp_code=int(str(data["smtp_code"])) if data.get("smtp_code") is not None else None,
        smtp_message=str(data.get("smtp_message") or ""),
        greylisted=bool(data.get("greylisted")),
    )
