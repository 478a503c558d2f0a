"""Settling: evidence becomes verifications, in the order the domain's findings allow.

An accepted address waits until its domain's accept-all probe is answered (it may be an
accept-all domain), and a bare 550 waits to see whether the same server accepted another
mailbox. The verdict itself is ``verdict.judge``'s; this module only gathers its evidence
and writes the verifications out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from mailsift.verify.address import ParsedAddress, SyntaxProblem
from mailsift.verify.dns import MailRoute
from mailsift.verify.errors import SessionRefused
from mailsift.verify.model import Reason, Result, Verification
from mailsift.verify.run_state import Domain, Item
from mailsift.verify.verdict import Evidence, RcptClass, asks_again, classify_rcpt, judge

log = logging.getLogger(__name__)

_MESSAGE_LENGTH = 500


class Settler:
    """Writes each item's verifications (one per way the list spelt it) to ``out``."""

    def __init__(
        self, remember_accept_all: Callable[[str, bool], None], retry_after: float
    ) -> None:
        self.out: asyncio.Queue[Verification] = asyncio.Queue()
        self._remember_accept_all = remember_accept_all
        self._retry_after = retry_after

    def syntax_problem(self, problem: SyntaxProblem) -> None:
        self.out.put_nowait(
            Verification(
                email=problem.given,
                normalized="",
                result=Result.INVALID,
                reason=Reason.INVALID_EMAIL,
                did_you_mean=problem.did_you_mean,
                smtp_message=problem.message,
            )
        )

    def answer(self, item: Item) -> None:
        """An item has all the evidence it will get; settle it once its domain allows."""
        domain = item.domain
        domain.in_flight -= 1
        reply = item.reply
        if item.is_probe:
            if reply is not None and not asks_again(reply):
                domain.accept_all = classify_rcpt(reply) is RcptClass.ACCEPTED
                self._remember_accept_all(domain.name, domain.accept_all)
        else:
            if reply is not None and reply.is_positive:
                domain.accepted_any = True
            if self._must_wait(item):
                domain.parked.append(item)
            else:
                self.finish(item, self.evidence(item))
        self.release_parked(domain)

    def provisional(self, item: Item, delay: float) -> None:
        """The caller asks again after ``delay``: a provisional answer now, on the evidence."""
        domain = item.domain
        domain.in_flight -= 1
        if item.is_probe:
            domain.probe_deferred = True
        else:
            result, reason = judge(self.evidence(item))
            message, code = _what_was_said(item)
            self.emit(item, result, reason, message=message, code=code, retry_after=delay)
        self.release_parked(domain)

    def _must_wait(self, item: Item) -> bool:
        domain = item.domain
        reply = item.reply
        if reply is None or not domain.in_flight:
            return False
        if reply.is_positive:
            return domain.accept_all is None
        return reply.code == 550 and classify_rcpt(reply) is RcptClass.AMBIGUOUS

    def release_parked(self, domain: Domain) -> None:
        still: list[Item] = []
        for item in domain.parked:
            if self._must_wait(item):
                still.append(item)
            else:
                self.finish(item, self.evidence(item))
        domain.parked = still

    def evidence(self, item: Item) -> Evidence:
        domain = item.domain
        return Evidence(
            route=domain.route.status if domain.route else None,
            rcpt=item.reply,
            failure=item.failure,
            accept_all=domain.accept_all,
            server_accepts_others=domain.accepted_any,
            smtputf8_missing=item.smtputf8_missing,
        )

    def finish(self, item: Item, evidence: Evidence) -> None:
        result, reason = judge(evidence)
        if reason is Reason.UNEXPECTED_ERROR:
            log.error("no evidence to judge %s on", item.recipient, stack_info=True)
        reply = item.reply
        accepted = reply is not None and reply.is_positive
        if accepted and item.domain.probe_deferred and evidence.accept_all is None:
            # Accepted, but is the domain accept-all? Both are asked again later.
            self.emit(
                item,
                result,
                reason,
                message="waiting to learn whether the domain accepts every address",
                retry_after=self._retry_after,
            )
            return
        message, code = _what_was_said(item)
        self.emit(
            item,
            result,
            reason,
            message=message,
            code=code,
            accept_all=bool(item.domain.accept_all) and result is Result.RISKY,
        )

    def unexpected(self, item: Item, exc: BaseException) -> None:
        """A bug in mailsift kept this item from an answer (already logged with its traceback)."""
        self.emit(item, Result.UNKNOWN, Reason.UNEXPECTED_ERROR, message=str(exc))

    def emit(
        self,
        item: Item,
        result: Result,
        reason: Reason,
        *,
        message: str = "",
        code: int | None = None,
        accept_all: bool = False,
        retry_after: float | None = None,
    ) -> None:
        mx_host = item.mx_host or _first_mx(item.domain.route)
        for given in item.givens:
            verification = verification_of(
                given,
                item.address,
                result,
                reason,
                message=message,
                code=code,
                mx_host=mx_host,
                accept_all=accept_all,
            )
            if retry_after is not None:
                verification = replace(verification, retry_after=retry_after)
            self.out.put_nowait(verification)
        item.givens = []


def _what_was_said(item: Item) -> tuple[str, int | None]:
    """The message and code a verification quotes: the reply, else the failure or DNS."""
    failure = item.failure
    reply = item.reply or (failure.reply if isinstance(failure, SessionRefused) else None)
    if item.smtputf8_missing:
        message = "the mail server does not support SMTPUTF8 (RFC 6531)"
    elif reply is not None:
        message = reply.text
    elif failure is not None:
        message = failure.detail
    elif item.domain.route is not None:
        message = item.domain.route.detail
    else:
        message = ""
    return message, reply.code if reply else None


def _first_mx(route: MailRoute | None) -> str:
    return route.hosts[0].name if route and route.hosts else ""


def verification_of(
    given: str,
    address: ParsedAddress | None,
    result: Result,
    reason: Reason,
    *,
    message: str = "",
    code: int | None = None,
    mx_host: str = "",
    accept_all: bool = False,
) -> Verification:
    return Verification(
        email=given,
        normalized=address.normalized if address else "",
        result=result,
        reason=reason,
        free=address.free if address else False,
        disposable=address.disposable if address else False,
        role=address.role if address else False,
        accept_all=accept_all,
        did_you_mean=address.did_you_mean if address else "",
        mx_host=mx_host,
        smtp_code=code,
        smtp_message=message[:_MESSAGE_LENGTH],
    )
