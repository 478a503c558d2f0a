"""The policy table as a pure function: every row, and the order in which rows win."""

from __future__ import annotations

import pytest

from mailsift.verify.dns import RouteStatus
from mailsift.verify.errors import (
    ConnectFailed,
    ConnectionDropped,
    ProbeError,
    ProbeTimeout,
    ProtocolViolation,
    SessionRefused,
    Stage,
    TargetRefused,
)
from mailsift.verify.model import Reason, Result
from mailsift.verify.smtp import Reply
from mailsift.verify.verdict import Evidence, RcptClass, classify_rcpt, judge, judge_failure


def reply(code: int, text: str) -> Reply:
    return Reply.build(code, (text,))


OK = RouteStatus.OK


@pytest.mark.parametrize(
    ("code", "text", "kind"),
    [
        (250, "2.1.5 Ok", RcptClass.ACCEPTED),
        (251, "User not local; will forward", RcptClass.ACCEPTED),
        (550, "5.1.1 <x@y>: Recipient address rejected: User unknown", RcptClass.NO_MAILBOX),
        (550, "5.1.10 RESOLVER.ADR.RecipientNotFound", RcptClass.NO_MAILBOX),
        (550, "5.2.1 Mailbox disabled", RcptClass.NO_MAILBOX),
        (552, "5.2.2 Mailbox full", RcptClass.FULL),
        (452, "4.2.2 Mailbox over quota", RcptClass.FULL),
        (452, "4.5.3 Too many recipients", RcptClass.TOO_MANY),
        (452, "Too many recipients received this hour", RcptClass.TOO_MANY),
        (450, "4.7.1 Greylisted, try again later", RcptClass.TRANSIENT),
        (450, "4.2.0 Recipient address rejected: Greylisted, see postgrey", RcptClass.TRANSIENT),
        (450, "4.7.1 Error: too much mail, rate limit exceeded", RcptClass.RATE_LIMITED),
        (421, "4.7.0 Too many connections from your host", RcptClass.RATE_LIMITED),
        (451, "Throttled: slow down", RcptClass.RATE_LIMITED),
        (451, "Temporary local problem", RcptClass.TRANSIENT),
        (
            554,
            "5.7.1 Service unavailable; client host blocked using zen.spamhaus.org",
            RcptClass.POLICY,
        ),
        (550, "5.7.1 Relaying denied", RcptClass.POLICY),
        # No enhanced code: the text decides, conservatively.
        (550, "No such user here", RcptClass.NO_MAILBOX),
        (550, "Mailbox unavailable: blocked by policy", RcptClass.AMBIGUOUS),
        (550, "Rejected due to spam content", RcptClass.POLICY),
        (550, "Requested action not taken", RcptClass.AMBIGUOUS),
        (552, "Quota exceeded", RcptClass.FULL),
        # An enhanced code whose class disagrees with the reply is ignored.
        (550, "2.1.5 looks positive but is not", RcptClass.AMBIGUOUS),
        # The enhanced code beats misleading text.
        (550, "5.7.1 User unknown", RcptClass.POLICY),
        (553, "5.1.3 Bad recipient address syntax", RcptClass.NO_MAILBOX),
        (550, "5.4.1 Recipient address rejected: Access denied", RcptClass.AMBIGUOUS),
    ],
)
def test_classify_rcpt(code: int, text: str, kind: RcptClass) -> None:
    assert classify_rcpt(reply(code, text)) is kind


@pytest.mark.parametrize(
    ("evidence", "verdict"),
    [
        (Evidence(route=RouteStatus.NXDOMAIN), (Result.INVALID, Reason.INVALID_DOMAIN)),
        (Evidence(route=RouteStatus.NULL_MX), (Result.INVALID, Reason.INVALID_DOMAIN)),
        (Evidence(route=RouteStatus.NO_MAIL_HOST), (Result.INVALID, Reason.INVALID_DOMAIN)),
        (Evidence(route=RouteStatus.DNS_ERROR), (Result.UNKNOWN, Reason.NO_CONNECT)),
        (Evidence(route=RouteStatus.DNS_TIMEOUT), (Result.UNKNOWN, Reason.TIMEOUT)),
        (Evidence(route=OK, disposable=True), (Result.RISKY, Reason.LOW_QUALITY)),
        # A dead domain beats the disposable list.
        (
            Evidence(route=RouteStatus.NXDOMAIN, disposable=True),
            (Result.INVALID, Reason.INVALID_DOMAIN),
        ),
        (
            Evidence(route=OK, rcpt=reply(250, "2.1.5 Ok"), accept_all=False),
            (Result.VALID, Reason.ACCEPTED_EMAIL),
        ),
        (
            Evidence(route=OK, rcpt=reply(250, "2.1.5 Ok"), accept_all=True),
            (Result.RISKY, Reason.LOW_DELIVERABILITY),
        ),
        # Accepted, but whether the domain accepts everything was never found out.
        (
            Evidence(route=OK, rcpt=reply(250, "2.1.5 Ok"), accept_all=None),
            (Result.UNKNOWN, Reason.UNAVAILABLE_SMTP),
        ),
        (
            Evidence(route=OK, rcpt=reply(550, "5.1.1 unknown"), accept_all=False),
            (Result.INVALID, Reason.REJECTED_EMAIL),
        ),
        (
            Evidence(route=OK, rcpt=reply(552, "5.2.2 full"), accept_all=False),
            (Result.RISKY, Reason.LOW_DELIVERABILITY),
        ),
        (
            Evidence(route=OK, rcpt=reply(450, "4.7.1 greylisted")),
            (Result.UNKNOWN, Reason.UNAVAILABLE_SMTP),
        ),
        (
            Evidence(route=OK, rcpt=reply(554, "5.7.1 blocked"), accept_all=False),
            (Result.UNKNOWN, Reason.INVALID_SMTP),
        ),
        # A bare 550 is "no such mailbox" only when the server accepts other mailboxes.
        (
            Evidence(route=OK, rcpt=reply(550, "Requested action not taken")),
            (Result.UNKNOWN, Reason.INVALID_SMTP),
        ),
        (
            Evidence(
                route=OK, rcpt=reply(550, "Requested action not taken"), server_accepts_others=True
            ),
            (Result.INVALID, Reason.REJECTED_EMAIL),
        ),
        (Evidence(route=OK, smtputf8_missing=True), (Result.INVALID, Reason.REJECTED_EMAIL)),
        (Evidence(route=OK), (Result.UNKNOWN, Reason.UNEXPECTED_ERROR)),
    ],
)
def test_judge(evidence: Evidence, verdict: tuple[Result, Reason]) -> None:
    assert judge(evidence) == verdict


@pytest.mark.parametrize(
    ("failure", "verdict"),
    [
        (ProbeTimeout(Stage.GREETING, "silent"), (Result.UNKNOWN, Reason.TIMEOUT)),
        (ConnectFailed(Stage.CONNECT, "refused"), (Result.UNKNOWN, Reason.NO_CONNECT)),
        (ConnectionDropped(Stage.RCPT, "eof"), (Result.UNKNOWN, Reason.NO_CONNECT)),
        (TargetRefused(Stage.CONNECT, "private"), (Result.UNKNOWN, Reason.NO_CONNECT)),
        (ProtocolViolation(Stage.GREETING, "junk"), (Result.UNKNOWN, Reason.INVALID_SMTP)),
        (
            SessionRefused(Stage.GREETING, reply(554, "5.7.1 go away")),
            (Result.UNKNOWN, Reason.INVALID_SMTP),
        ),
        (
            SessionRefused(Stage.GREETING, reply(421, "4.7.0 busy")),
            (Result.UNKNOWN, Reason.UNAVAILABLE_SMTP),
        ),
        (
            SessionRefused(Stage.MAIL, reply(550, "5.7.1 sender rejected")),
            (Result.UNKNOWN, Reason.INVALID_SMTP),
        ),
    ],
)
def test_failures_are_never_invalid(failure: ProbeError, verdict: tuple[Result, Reason]) -> None:
    assert judge_failure(failure) == verdict
    assert judge(Evidence(route=OK, failure=failure)) == verdict
