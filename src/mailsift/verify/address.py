"""Parse and normalise one email address, and spot likely typos in its domain.

Syntax follows RFC 5321/5322/6531 through email-validator, with these choices:

- The local part may hold at most 64 octets (UTF-8) and the whole address 254.
- Non-ASCII local parts are accepted (RFC 6531) and flagged ``needs_smtputf8``; they are put in
  Unicode normal form C (RFC 6532).
- Quoted local parts (``"john smith"@example.com``) are accepted: they are valid SMTP and the mail
  server has the final word. Needless quotes are dropped (``"john"@x.com`` -> ``john@x.com``).
- The RFC 2142 mailbox names (``Postmaster``, ``INFO``, ...) are case-insensitive and normalised to
  lower case; any other local part keeps its case.
- Refused: IP literals (``user@[1.2.3.4]``), display names (``John <john@x.com>``), domains
  without a dot (``user@localhost``) and special-use names (``.localhost``, ``.local``,
  ``.invalid``, ``.onion``, ``.arpa``). ``.test`` (RFC 6761) is accepted so that whole
  verifications can be exercised against test domains; DNS then finds no such domain.

Bulk lists are parsed at intake, so a precompiled pattern handles the common plain-ASCII address
without calling email-validator. It accepts only addresses email-validator accepts, and yields the
same normalised form; everything else goes through email-validator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import NamedTuple

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from mailsift.verify.lists import COUNTRY_TLDS, FREE_PROVIDERS, is_disposable, is_free, is_role

__all__ = [
    "MAX_ADDRESS_OCTETS",
    "MAX_LOCAL_OCTETS",
    "NOT_TYPOS",
    "TYPO_TARGETS",
    "ParsedAddress",
    "SyntaxProblem",
    "parse_address",
    "suggest_domain",
]

MAX_ADDRESS_OCTETS = 254
MAX_LOCAL_OCTETS = 64


class ParsedAddress(NamedTuple):
    """A syntactically valid address, normalised, with its flags.

    A named tuple rather than a frozen dataclass: intake builds a million of these, and a
    tuple is built about five times faster.
    """

    given: str  # the input, trimmed of surrounding whitespace
    normalized: str  # local part + "@" + lower-cased ASCII (IDNA) domain
    local_part: str
    domain: str  # lower-cased ASCII (IDNA) domain, no trailing dot
    unicode_domain: str  # the same domain in Unicode form
    needs_smtputf8: bool  # the local part is not ASCII (RFC 6531)
    free: bool  # free-mail provider
    disposable: bool  # disposable/throwaway provider
    role: bool  # role account (admin@, info@, ...)
    did_you_mean: str  # a corrected full address for a likely typo, else ""


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    """An input that is not a valid address, and why."""

    given: str
    message: str  # one human sentence: what is wrong
    did_you_mean: str = ""


# local part, ASCII domain, Unicode domain, needs SMTPUTF8. A plain tuple: it is made per address.
_Syntax = tuple[str, str, str, bool]


def parse_address(text: str) -> ParsedAddress | SyntaxProblem:
    """Check and normalise ``text``. Never raises: bad input gives a ``SyntaxProblem``."""
    given = text.strip()
    syntax = _check_syntax(given)
    if isinstance(syntax, str):
        return SyntaxProblem(given, syntax, _repair_suggestion(given))
    local, domain, unicode_domain, needs_smtputf8 = syntax
    free, disposable, suggestion = _domain_facts(domain)
    return ParsedAddress(
        given,
        f"{local}@{domain}",
        local,
        domain,
        unicode_domain,
        needs_smtputf8,
        free,
        disposable,
        is_role(local),
        f"{local}@{suggestion}" if suggestion else "",
    )


# --- syntax ---------------------------------------------------------------------------------

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_REFUSED_TOP_LABELS = frozenset(SPECIAL_USE_DOMAIN_NAMES) - {"test"}
_REFUSED_TOP = "|".join(re.escape(label) for label in sorted(_REFUSED_TOP_LABELS))
# Dot-atom local part; LDH labels of at most 63 characters, not starting or ending with a hyphen;
# a top-level label ending with a letter and not special-use. Possessive quantifiers: no label
# pattern can match a dot, so nothing is ever worth backtracking into.
_PLAIN_ADDRESS = re.compile(
    rf"(?=[^@]{{1,{MAX_LOCAL_OCTETS}}}@)({_ATEXT}++(?:\.{_ATEXT}++)*+)"
    r"@(?=[^@]{3,253}\Z)("
    r"(?:[A-Za-z0-9][A-Za-z0-9-]{0,62}+(?<!-)\.)++"
    rf"(?!(?i:{_REFUSED_TOP})\Z)[A-Za-z0-9][A-Za-z0-9-]{{0,62}}+(?<=[A-Za-z]))"
)
_CASELESS_MAILBOXES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def _check_syntax(given: str) -> _Syntax | str:
    """The parsed address, or a sentence saying what is wrong with it."""
    return _parse_plain(given) or _parse_full(given)


def _parse_plain(given: str) -> _Syntax | None:
    """The fast path: a plain-ASCII address, or None to leave it to ``_parse_full``."""
    match = _PLAIN_ADDRESS.fullmatch(given) if len(given) <= MAX_ADDRESS_OCTETS else None
    if match is None:
        return None
    local, domain = match.groups()
    if "--" in domain:  # Punycode or a reserved label form: email-validator checks those
        return None
    domain = domain.lower()
    if local.lower() in _CASELESS_MAILBOXES:
        local = local.lower()
    return local, domain, domain, False


def _parse_full(given: str) -> _Syntax | str:
    """Any address, through email-validator plus the limits it leaves to its caller."""
    if not given:
        return "The email address is empty."
    if len(given) > MAX_ADDRESS_OCTETS:
        return (
            f"The email address is too long ({len(given)} characters; "
            f"at most {MAX_ADDRESS_OCTETS} octets are allowed)."
        )
    try:
        info = validate_email(
            given,
            allow_smtputf8=True,
            allow_empty_local=False,
            allow_quoted_local=True,
            allow_domain_literal=False,
            allow_display_name=False,
            strict=False,  # its strict mode counts characters; the octet limit is checked below
            check_deliverability=False,
            globally_deliverable=True,
            test_environment=True,  # lets ".test" through; dotless domains are refused below
        )
        local_octets = len(info.local_part.encode("utf-8"))
    except EmailNotValidError as exc:
        return str(exc)
    except Exception:  # hostile input must never escape as an exception
        return "The email address is not valid."
    if local_octets > MAX_LOCAL_OCTETS:
        return (
            f"The part before the @-sign is too long ({local_octets} octets; "
            f"at most {MAX_LOCAL_OCTETS} are allowed)."
        )
    if "." not in info.ascii_domain:
        return "The part after the @-sign is not valid. It should have a period."
    return info.local_part, info.ascii_domain, info.domain, info.smtputf8


# --- suggestions for inputs that are not addresses ------------------------------------------

_MAX_REPAIRABLE = 2 * MAX_ADDRESS_OCTETS
_ANGLE_ADDRESS = re.compile(r"<([^<>]*@[^<>]*)>")
_AT_SIGNS = re.compile(r"\s*@+\s*")
_DOMAIN_DOTS = re.compile(r"\s*[.,]+\s*")


def _repaired(given: str) -> str:
    """``given`` with its obvious slips fixed, or "" when it has no @-sign at all."""
    text = given[len("mailto:") :] if given[:7].lower() == "mailto:" else given
    angle = _ANGLE_ADDRESS.search(text)
    if angle is not None:
        text = angle[1]
    text = _AT_SIGNS.sub("@", text.strip().rstrip(".,;"))
    local, at, domain = text.rpartition("@")
    if not at:
        return ""
    return f"{local}@{_DOMAIN_DOTS.sub('.', domain).strip('.')}"


def _repair_suggestion(given: str) -> str:
    """A corrected address for a near miss (``john@gmail,com``), else ""."""
    if len(given) > _MAX_REPAIRABLE:
        return ""
    candidate = _repaired(given)
    if not candidate:
        return ""
    syntax = _check_syntax(candidate)
    if isinstance(syntax, str):
        # One slip in a provider's name can also break the syntax: "gmailcom".
        local, _, domain = candidate.rpartition("@")
        fixed = suggest_domain(domain)
        syntax = _check_syntax(f"{local}@{fixed}") if fixed and local else syntax
        if isinstance(syntax, str):
            return ""
    local, domain = syntax[:2]
    return f"{local}@{suggest_domain(domain) or domain}"


# --- typos in the domain --------------------------------------------------------------------

# Where misspelt domains were meant to go, most used first: the first match wins a tie.
TYPO_TARGETS = (
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "aol.com",
    "live.com",
    "msn.com",
    "googlemail.com",
    "ymail.com",
    "rocketmail.com",
    "me.com",
    "mac.com",
    "mail.com",
    "gmx.de",
    "gmx.net",
    "gmx.com",
    "web.de",
    "t-online.de",
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "protonmail.com",
    "proton.me",
    "yahoo.co.uk",
    "hotmail.co.uk",
    "btinternet.com",
    "yahoo.fr",
    "hotmail.fr",
    "wanadoo.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "comcast.net",
    "verizon.net",
    "att.net",
    "sbcglobal.net",
    "bellsouth.net",
    "cox.net",
    "earthlink.net",
    "optonline.net",
    "qq.com",
    "163.com",
    "rediffmail.com",
)
# Real domains a single slip away from a provider: never "corrected".
NOT_TYPOS = frozenset({"cloud.com"})
_KNOWN_DOMAINS = FREE_PROVIDERS | NOT_TYPOS
# Short provider names ("aol", "web") are one slip away from other real names, so only their
# top-level part is corrected; two slips are allowed in long names when the first letter holds.
_MIN_NAME_FOR_NAME_EDITS = 5
_MIN_NAME_FOR_TWO_EDITS = 7
_DOMAIN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-."
_LONG_TARGETS = tuple(
    (name, suffix)
    for name, _, suffix in (target.partition(".") for target in TYPO_TARGETS)
    if len(name) >= _MIN_NAME_FOR_TWO_EDITS
)
# Cheap tests before looking for two slips: same first letter and suffix, similar length.
_TWO_SLIP_STARTS = frozenset((name[0], suffix) for name, suffix in _LONG_TARGETS)
_TWO_SLIP_LENGTHS = range(
    _MIN_NAME_FOR_TWO_EDITS - 2, max(len(name) for name, _ in _LONG_TARGETS) + 3
)


def suggest_domain(domain: str) -> str:
    """The provider domain ``domain`` is likely a typo of ("gmial.com" -> "gmail.com"), else ""."""
    return _suggest(domain.strip().lower())


@lru_cache(maxsize=1 << 16)
def _domain_facts(domain: str) -> tuple[bool, bool, str]:
    """Free, disposable and typo suggestion for one ASCII domain: looked up once per domain."""
    return is_free(domain), is_disposable(domain), _suggest(domain)


@lru_cache(maxsize=1 << 16)
def _suggest(domain: str) -> str:
    if domain in _KNOWN_DOMAINS:
        return ""
    return _one_slip_index().get(domain) or _two_slip_target(domain)


def _one_slip_variants(word: str) -> set[str]:
    """Every string one deletion, transposition, substitution or insertion from ``word``."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    variants = {head + tail[1:] for head, tail in splits if tail}
    variants |= {head + tail[1] + tail[0] + tail[2:] for head, tail in splits if len(tail) > 1}
    variants |= {head + c + tail[1:] for head, tail in splits if tail for c in _DOMAIN_CHARS}
    variants |= {head + c + tail for head, tail in splits for c in _DOMAIN_CHARS}
    variants.discard(word)
    return variants


def _is_plausible_slip(target: str, variant: str) -> bool:
    """Whether a one-slip ``variant`` of ``target`` is more likely a typo than a real domain."""
    if variant in _KNOWN_DOMAINS:
        return False
    name, _, suffix = target.partition(".")
    variant_name, dot, variant_suffix = variant.partition(".")
    if not dot or variant_name == name:
        # "web.de" -> "web.dk" is another country's domain, not a slip of the finger.
        return not (suffix in COUNTRY_TLDS and variant_suffix in COUNTRY_TLDS)
    return len(name) >= _MIN_NAME_FOR_NAME_EDITS


@cache
def _one_slip_index() -> dict[str, str]:
    """Misspelt domain -> provider, for every plausible one-slip misspelling."""
    index: dict[str, str] = {}
    for target in TYPO_TARGETS:
        for variant in _one_slip_variants(target):
            if variant not in index and _is_plausible_slip(target, variant):
                index[variant] = target
    return index


def _deletions(word: str, depth: int) -> set[str]:
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


@cache
def _two_slip_index() -> dict[tuple[str, str], tuple[str, ...]]:
    """(name with up to two letters deleted, suffix) -> long provider names, for a quick lookup."""
    index: dict[tuple[str, str], tuple[str, ...]] = {}
    for target in TYPO_TARGETS:
        name, _, suffix = target.partition(".")
        if len(name) >= _MIN_NAME_FOR_TWO_EDITS:
            for key in _deletions(name, 2):
                index[key, suffix] = (*index.get((key, suffix), ()), name)
    return index


def _two_slip_target(domain: str) -> str:
    """A long provider name two slips from ``domain``'s first label, same suffix; else ""."""
    name, _, suffix = domain.partition(".")
    if len(name) not in _TWO_SLIP_LENGTHS or (name[0], suffix) not in _TWO_SLIP_STARTS:
        return ""
    index = _two_slip_index()
    for key in _deletions(name, 2):
        for target_name in index.get((key, suffix), ()):
            if target_name[0] == name[0] and _edit_distance(name, target_name) <= 2:
                return f"{target_name}.{suffix}"
    return ""


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: Levenshtein plus swaps of adjacent letters."""
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = int(a[i - 1] != b[j - 1])
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[-1]
