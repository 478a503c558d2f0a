"""The verdict policy as pure functions: evidence in, result and reason out.

A reply is judged by its class (2/4/5) first, then by its RFC 3463 enhanced status code, and
only as a last resort by its text. When in doubt the answer is ``unknown``: a wrong
``invalid`` costs a list owner a real customer, a wrong ``valid`` their sender reputation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mailsift.verify.dns import RouteStatus
from mailsift.verify.errors import (
    ConnectFailed,
    ProbeError,
    ProbeTimeout,
    ProtocolViolation,
    ServerBusy,
    SessionRefused,
    TargetRefused,
)
from mailsift.verify.model import Reason, Result
from mailsift.verify.smtp import Reply


class RcptClass(StrEnum):
    """What one RCPT reply says about the mailbox."""

    ACCEPTED = "accepted"
    NO_MAILBOX = "no_mailbox"  # 5.1.x, 5.2.1, or a 5xx whose text says the user is unknown
    FULL = "full"  # 5.2.2 / 4.2.2
    TOO_MANY = "too_many"  # 452 4.5.3 / "too many recipients": not about this mailbox
    RATE_LIMITED = "rate_limited"  # 4xx "slow down": leave the whole server alone a while
    TRANSIENT = "transient"  # other 4xx (greylisting...): ask about this one again later
    POLICY = "policy"  # 5.7.x, blocklists, relaying denied: says nothing about the mailbox
    AMBIGUOUS = "ambiguous"  # a 5xx that could be either


_NO_MAILBOX_TEXT = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|address)|"
    r"(mailbox|user|recipient|address|account)[^.;]{0,40}"
    r"(does not exist|doesn't exist|not exist|not found|unknown|unavailable|disabled|invalid)|"
    r"invalid (recipient|mailbox|address|user)|recipient rejected|unrouteable address|"
    r"no mailbox|mailbox not found|undeliverable address",
    re.IGNORECASE,
)
_POLICY_TEXT = re.compile(
    r"block|black ?list|spam|polic|reputation|relay|denied|not permitted|"
    r"authenticat|rate|too many|abuse|dnsbl|rbl|spf|dmarc|reverse dns|ptr",
    re.IGNORECASE,
)
# 450 4.7.1 "... rate limit exceeded", 421 "too many connections", "slow down"; greylisting
# often says 4.7.1 too, but names itself.
_RATE_TEXT = re.compile(r"\brate\b|rate.?limit|too many|throttl|slow down", re.IGNORECASE)
_TOO_MANY_RCPT_TEXT = re.compile(r"too many (recipients|rcpt)", re.IGNORECASE)
_GREYLIST_TEXT = re.compile(r"grey ?list|gray ?list", re.IGNORECASE)
_FULL_TEXT = re.compile(r"over ?quota|quota exceeded|mailbox (is )?full|insufficient storage", re.I)


def classify_rcpt(reply: Reply) -> RcptClass:
    """Class first, then the enhanced code, then (last) the text."""
    if reply.is_positive:
        return RcptClass.ACCEPTED
    enhanced = reply.enhanced
    if enhanced is not None:
        _, subject, detail = enhanced
        if (subject, detail) == (2, 2):
            return RcptClass.FULL
        if reply.is_transient:
            return RcptClass.TOO_MANY if (subject, detail) == (5, 3) else _transient(reply)
        if subject == 1 or (subject, detail) == (2, 1):
            return RcptClass.NO_MAILBOX
        if subject == 7:
            return RcptClass.POLICY
        return RcptClass.AMBIGUOUS
    return _classify_by_text(reply)


def _transient(reply: Reply) -> RcptClass:
    if _RATE_TEXT.search(reply.text) and not _GREYLIST_TEXT.search(reply.text):
        return RcptClass.RATE_LIMITED
    return RcptClass.TRANSIENT


def _classify_by_text(reply: Reply) -> RcptClass:
    text = reply.text
    if _FULL_TEXT.search(text) or reply.code == 552:
        return RcptClass.FULL
    if reply.is_transient:
        if reply.code == 452 and _TOO_MANY_RCPT_TEXT.search(text):
            return RcptClass.TOO_MANY
        return _transient(reply)
    says_no_mailbox = _NO_MAILBOX_TEXT.search(text) is not None
    says_policy = _POLICY_TEXT.search(text) is not None
    if says_no_mailbox and not says_policy:
        return RcptClass.NO_MAILBOX
    if says_policy and not says_no_mailbox:
        return RcptClass.POLICY
    # A bare 550 often means "no such user", but also "go away": ambiguous until the same
    # server has been seen accepting another mailbox (see ``judge``).
    return RcptClass.AMBIGUOUS


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything learnt about one address; unset fields mean "not found out"."""

    route: RouteStatus | None = None
    disposable: bool = False
    rcpt: Reply | None = None
    failure: ProbeError | None = None  # why there is no RCPT reply (or why it was not final)
    accept_all: bool | None = None  # the domain accepted a never-issued local part
    server_accepts_others: bool = False  # the same server accepted another mailbox
    smtputf8_missing: bool = False  # non-ASCII local part, server without SMTPUTF8


_ASK_AGAIN = frozenset({RcptClass.TRANSIENT, RcptClass.TOO_MANY, RcptClass.RATE_LIMITED})
_DOMAIN_DEAD = {RouteStatus.NXDOMAIN, RouteStatus.NULL_MX, RouteStatus.NO_MAIL_HOST}


def judge(evidence: Evidence) -> tuple[Result, Reason]:
    """The policy table of the product contract, in order of precedence."""
    if evidence.route in _DOMAIN_DEAD:
        return Result.INVALID, Reason.INVALID_DOMAIN
    if evidence.route is RouteStatus.DNS_TIMEOUT:
        return Result.UNKNOWN, Reason.TIMEOUT
    if evidence.route is RouteStatus.DNS_ERROR:
        return Result.UNKNOWN, Reason.NO_CONNECT
    if evidence.disposable:
        return Result.RISKY, Reason.LOW_QUALITY
    if evidence.smtputf8_missing:
        return Result.INVALID, Reason.REJECTED_EMAIL
    if evidence.rcpt is not None:
        return _judge_rcpt(evidence.rcpt, evidence)
    if evidence.failure is not None:
        return judge_failure(evidence.failure)
    return Result.UNKNOWN, Reason.UNEXPECTED_ERROR  # no evidence at all: a bug in mailsift


def asks_again(reply: Reply) -> bool:
    """The reply is no answer about the mailbox yet: the same question may be asked later."""
    return classify_rcpt(reply) in _ASK_AGAIN


def _judge_rcpt(reply: Reply, evidence: Evidence) -> tuple[Result, Reason]:
    kind = classify_rcpt(reply)
    if kind is RcptClass.ACCEPTED:
        if evidence.accept_all:
            return Result.RISKY, Reason.LOW_DELIVERABILITY
        if evidence.accept_all is None:
            return Result.UNKNOWN, Reason.UNAVAILABLE_SMTP
        return Result.VALID, Reason.ACCEPTED_EMAIL
    if kind is RcptClass.NO_MAILBOX:
        return Result.INVALID, Reason.REJECTED_EMAIL
    if kind is RcptClass.FULL:
        return Result.RISKY, Reason.LOW_DELIVERABILITY
    if kind is RcptClass.AMBIGUOUS and evidence.server_accepts_others and reply.code == 550:
        return Result.INVALID, Reason.REJECTED_EMAIL
    if kind in _ASK_AGAIN:
        return Result.UNKNOWN, Reason.UNAVAILABLE_SMTP
    return Result.UNKNOWN, Reason.INVALID_SMTP


def judge_failure(failure: ProbeError) -> tuple[Result, Reason]:
    """A conversation that never produced a usable RCPT reply."""
    if isinstance(failure, ProbeTimeout):
        return Result.UNKNOWN, Reason.TIMEOUT
    if isinstance(failure, ServerBusy):
        return Result.UNKNOWN, Reason.UNAVAILABLE_SMTP
    if isinstance(failure, SessionRefused):
        if failure.reply.is_transient:
            return Result.UNKNOWN, Reason.UNAVAILABLE_SMTP
        return Result.UNKNOWN, Reason.INVALID_SMTP
    if isinstance(failure, ProtocolViolation):
        return Result.UNKNOWN, Reason.INVALID_SMTP
    if isinstance(failure, ConnectFailed | TargetRefused):
        return Result.UNKNOWN, Reason.NO_CONNECT
    return Result.UNKNOWN, Reason.NO_CONNECT
