"""One session with one server: as many recipients as its budgets allow, then QUIT.

The first batch opens a transaction (MAIL, then its RCPTs, pipelined when offered); later
batches add RCPTs to the same transaction. Every batch is sized by the session's budget
(``budgets.SessionBudget``), so the server never sees more rejected recipients than it
tolerates. Each reply is filed on its item; what the server said about itself (a recipient
cap, an error limit, a rate limit, a 421) is remembered for the rest of the run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mailsift.verify.budgets import SessionBudget, says_too_many_errors
from mailsift.verify.errors import ProbeError, SessionRefused, Stage
from mailsift.verify.run_state import HostQueue, Item
from mailsift.verify.session import RcptInterrupted
from mailsift.verify.smtp import Reply
from mailsift.verify.verdict import RcptClass, classify_rcpt

if TYPE_CHECKING:
    from mailsift.verify.connector import SmtpConversation
    from mailsift.verify.host_queues import HostQueues

log = logging.getLogger(__name__)


class Conversation:
    def __init__(self, queues: HostQueues, host: HostQueue, session: SmtpConversation) -> None:
        self.queues = queues
        self.host = host
        self.session = session
        options = queues.options
        self.budget = SessionBudget(
            rcpt_cap=queues.manners.rcpt_cap(host.key, options.max_rcpt_per_session),
            error_cap=queues.manners.error_cap(host.key, options.max_rcpt_errors_per_session),
            round_trip=session.round_trip,
            pipelining=session.supports_pipelining,
        )
        self.taken: list[Item] = []  # the batch whose replies are awaited
        self.in_transaction = False
        self.transaction_smtputf8 = False

    async def run(self) -> None:
        """Converse; whatever happens, every taken item is answered, failed over or requeued."""
        try:
            await self._converse()
        except RcptInterrupted as exc:
            self._interrupted(exc)
        except ProbeError as exc:
            for item in self.taken:
                self.queues.fail_over(item, exc)
        except Exception as exc:
            log.exception("session with %s failed", self.session.endpoint.address)
            for item in self.taken:
                self.queues.settler.unexpected(item, exc)

    async def _converse(self) -> None:
        host, session, budget = self.host, self.session, self.budget
        while host.pending and session.is_open:
            room = budget.room()
            if not room:
                return
            batch = self._take(room)
            if not batch:
                continue
            self.taken = batch
            last = budget.used + len(batch) >= budget.rcpt_cap or not host.pending
            sent_at = self.queues.loop.time()
            commands_before = 0 if self.in_transaction else 1
            try:
                replies = await self._ask(batch, then_quit=last)
            except SessionRefused as exc:
                if exc.stage is not Stage.MAIL:
                    raise
                self.taken = []
                self.queues.mail_refused(host, batch, exc)
                return
            self.taken = []
            suspected = budget.record(
                replies, session.rcpt_arrivals, sent_at, commands_before=commands_before
            )
            if suspected is not None and not self.queues.lag.busy_since(sent_at):
                # Error sleeps, it seems (and not our own machine being slow).
                self.queues.manners.suspect_error_cap(host.key, suspected)
            if not self._file(batch, replies):
                return

    async def _ask(self, batch: list[Item], *, then_quit: bool) -> list[Reply]:
        session = self.session
        recipients = [item.recipient for item in batch]
        smtputf8 = session.supports_smtputf8 and any(
            item.address is not None and item.address.needs_smtputf8 for item in batch
        )
        if self.in_transaction and (self.transaction_smtputf8 or not smtputf8):
            return await session.ask(recipients, then_quit=then_quit)
        _, replies = await session.probe(
            self.queues.options.envelope_sender,
            recipients,
            smtputf8=smtputf8,
            reset_first=self.in_transaction,
            then_quit=then_quit,
        )
        self.in_transaction, self.transaction_smtputf8 = True, smtputf8
        return replies

    def _take(self, room: int) -> list[Item]:
        batch: list[Item] = []
        pending = self.host.pending
        while pending and len(batch) < room:
            item = pending.popleft()
            needs_smtputf8 = item.address is not None and item.address.needs_smtputf8
            if needs_smtputf8 and not self.session.supports_smtputf8:
                item.smtputf8_missing = True
                item.mx_host = self.session.endpoint.mx_host
                self.queues.settler.answer(item)
                continue
            batch.append(item)
        return batch

    def _file(self, batch: list[Item], replies: list[Reply]) -> bool:
        """File each RCPT reply; False when the session should end here."""
        queues, host = self.queues, self.host
        keep_going = True
        paused_for: float | None = None
        for position, (item, reply) in enumerate(zip(batch, replies, strict=True)):
            kind = classify_rcpt(reply)
            item.mx_host = self.session.endpoint.mx_host
            item.heard(reply)
            if kind is RcptClass.TOO_MANY:
                if keep_going:
                    accepted_before = self.budget.used - len(batch) + position
                    queues.manners.lower_rcpt_cap(host.key, max(1, accepted_before))
                host.pending.appendleft(item)
                keep_going = False
            elif kind is RcptClass.RATE_LIMITED:
                if paused_for is None:
                    paused_for = queues.pause(host, SessionRefused(Stage.RCPT, reply))
                queues.retries.later(item, after=paused_for)
                keep_going = False
            elif kind is RcptClass.TRANSIENT:
                queues.retries.later(item)
            else:
                queues.settler.answer(item)
        return keep_going

    def _interrupted(self, exc: RcptInterrupted) -> None:
        """421 among the RCPT replies: the answered ones count, the rest wait for the pause."""
        queues, budget, batch = self.queues, self.budget, self.taken
        answered = batch[: len(exc.answered)]
        budget.record(exc.answered, self.session.rcpt_arrivals, self.queues.loop.time())
        if says_too_many_errors(exc.reply):
            queues.manners.lower_error_cap(self.host.key, budget.cap_after_too_many_errors())
        paused_for = queues.pause(self.host, exc)
        self._file(answered, list(exc.answered))
        for item in batch[len(exc.answered) :]:
            item.heard(exc)
            item.mx_host = self.session.endpoint.mx_host
            queues.retries.later(item, after=paused_for)
        self.taken = []
