"""Address syntax, normalisation, flags and typo suggestions."""

from __future__ import annotations

import random
import string

import pytest

from mailsift.verify.address import (
    TYPO_TARGETS,
    ParsedAddress,
    SyntaxProblem,
    _parse_full,
    _parse_plain,
    parse_address,
    suggest_domain,
)
from mailsift.verify.lists import FREE_PROVIDERS


def parsed(text: str) -> ParsedAddress:
    result = parse_address(text)
    assert isinstance(result, ParsedAddress), result
    return result


def problem(text: str) -> SyntaxProblem:
    result = parse_address(text)
    assert isinstance(result, SyntaxProblem), result
    assert result.message.endswith(".")
    return result


def domain_of_length(length: int) -> str:
    """A valid domain of exactly ``length`` characters, in labels of at most 63."""
    labels = []
    remaining = length - len(".com")
    while remaining > 0:
        size = min(63, remaining)
        if remaining - size == 1:  # never leave room for just a dot
            size -= 1
        labels.append("x" * size)
        remaining -= size + 1
    return ".".join(labels) + ".com"


# --- normalisation ----------------------------------------------------------------------------


def test_plain_address_is_kept_as_given() -> None:
    result = parsed("john.smith@example.com")
    assert result.normalized == "john.smith@example.com"
    assert (result.local_part, result.domain) == ("john.smith", "example.com")
    assert result.unicode_domain == "example.com"
    assert not result.needs_smtputf8


def test_surrounding_whitespace_is_trimmed() -> None:
    result = parsed("  \tjohn@example.com \r\n")
    assert result.given == "john@example.com"
    assert result.normalized == "john@example.com"


def test_domain_is_lower_cased_but_local_part_keeps_its_case() -> None:
    result = parsed("John.Smith@EXAMPLE.Com")
    assert result.given == "John.Smith@EXAMPLE.Com"
    assert result.normalized == "John.Smith@example.com"


def test_rfc_2142_mailbox_names_are_case_insensitive() -> None:
    assert parsed("PostMaster@Example.com").normalized == "postmaster@example.com"
    assert parsed("INFO@example.com").normalized == "info@example.com"


def test_idn_domain_is_idna_encoded() -> None:
    result = parsed("user@bücher.de")
    assert result.normalized == "user@xn--bcher-kva.de"
    assert result.domain == "xn--bcher-kva.de"
    assert result.unicode_domain == "bücher.de"
    assert not result.needs_smtputf8


@pytest.mark.parametrize(
    "text", ["user@BÜCHER.DE", "user@XN--BCHER-KVA.DE", "user@xn--bcher-kva.de"]
)
def test_idn_domain_in_any_form_normalises_alike(text: str) -> None:
    result = parsed(text)
    assert result.normalized == "user@xn--bcher-kva.de"
    assert result.unicode_domain == "bücher.de"


def test_non_ascii_local_part_needs_smtputf8() -> None:
    result = parsed("jörg@example.com")
    assert result.needs_smtputf8
    assert result.normalized == "jörg@example.com"


def test_non_ascii_local_part_is_put_in_normal_form_c() -> None:
    result = parsed("jo\u0308rg@example.com")  # "o" + combining diaeresis
    assert result.local_part == "jörg"


def test_quoted_local_part_is_accepted_and_kept_quoted_when_needed() -> None:
    assert parsed('"john smith"@example.com').normalized == '"john smith"@example.com'
    assert parsed('"a@b"@Example.com').normalized == '"a@b"@example.com'


def test_needless_quotes_are_dropped() -> None:
    assert parsed('"john"@example.com').normalized == "john@example.com"


def test_test_domains_are_accepted_for_test_setups() -> None:
    assert parsed("user@ok.test").domain == "ok.test"


# --- syntax limits ----------------------------------------------------------------------------


def test_local_part_of_64_octets_is_accepted_and_65_refused() -> None:
    parsed("a" * 64 + "@example.com")
    assert "64" in problem("a" * 65 + "@example.com").message


def test_local_part_limit_counts_utf8_octets() -> None:
    parsed("é" * 32 + "@example.com")  # 64 octets
    assert "65 octets" in problem("é" * 32 + "a@example.com").message


def test_address_of_254_octets_is_accepted_and_255_refused() -> None:
    local = "a" * 64
    assert len(parsed(f"{local}@{domain_of_length(189)}").normalized) == 254
    assert "too long" in problem(f"{local}@{domain_of_length(190)}").message


def test_label_of_63_characters_is_accepted_and_64_refused() -> None:
    parsed(f"user@{'a' * 63}.com")
    problem(f"user@{'a' * 64}.com")


@pytest.mark.parametrize(
    "text",
    [
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a@-example.com",
        "a@example-.com",
        "a@example..com",
        "a@.example.com",
        "a@example.com.",
        "a@ex_ample.com",
        "a@example.c0m1",  # a top-level domain ends with a letter
        "a@ab--cd.com",  # "--" in third and fourth place is reserved for Punycode
        "a@xn--zzzz.com",  # not valid Punycode
        "a b@example.com",
        "a@b@example.com",
        "@example.com",
        "a@",
        "a",
        "John <john@example.com>",
    ],
)
def test_malformed_addresses_are_refused(text: str) -> None:
    problem(text)


@pytest.mark.parametrize("text", ["user@[127.0.0.1]", "user@[IPv6:2001:db8::1]"])
def test_ip_literals_are_refused(text: str) -> None:
    assert "bracketed IP address" in problem(text).message


@pytest.mark.parametrize(
    "text",
    [
        "user@localhost",
        "user@com",
        "user@mail.localhost",
        "user@printer.local",
        "user@x.invalid",
        "user@site.onion",
        "user@1.0.0.127.in-addr.arpa",
    ],
)
def test_dotless_and_special_use_domains_are_refused(text: str) -> None:
    problem(text)


def test_problem_keeps_the_trimmed_input() -> None:
    result = problem("  not an address ")
    assert result.given == "not an address"
    assert result.message == "An email address must have an @-sign."


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\x00",
        "a\x00b@example.com",
        "a@exa\x00mple.com",
        "@@",
        "@",
        "a@@",
        "\u202eexample@x.com",  # right-to-left override
        "\ud800@example.com",  # lone surrogate
        "a@\udfff.com",
        "😀@😀.com",
        "a@example.com\u200b",  # zero-width space
        "a" * 10_000,
        "a" * 10_000 + "@example.com",
        "a@" + "b." * 5_000 + "com",
        '"' * 300 + "@example.com",
        "\\" * 300,
        "<" * 200 + "a@b.com" + ">" * 200,
        "mailto:" * 100,
    ],
)
def test_hostile_input_never_raises(text: str) -> None:
    result = parse_address(text)
    assert isinstance(result, SyntaxProblem)
    assert result.message
    assert result.given == text.strip()


def test_random_junk_never_raises() -> None:
    rng = random.Random(20261101)
    pool = string.printable + '@@@.."\\<>[]\x00\x7f\u00e9\u0301\u200b\u202e\u3002\uff0e\ufffd😀'
    for _ in range(3_000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 80)))
        result = parse_address(text)
        assert isinstance(result, ParsedAddress | SyntaxProblem)
        assert result.given == text.strip()


# --- the fast path agrees with email-validator --------------------------------------------


EDGE_CASES = [
    "a@b.co",
    "a@b.c",
    "a@b.c1",
    "a@b.1c",
    "a@1.2.3.com",
    "a@b.co-m",
    "a@b.-com",
    "a@b.com-",
    "a@a-b.com",
    "a@a--b.com",
    "a@ab--c.com",
    "a@xn--bcher-kva.de",
    "a@XN--BCHER-KVA.DE",
    "a@b.xn--p1ai",
    "a@b.test",
    "a@test",
    "a@b.local",
    "a@b.LOCAL",
    "a@b.locals",
    "a@b.localhost",
    "a@b.arpa",
    "a@b.onion",
    "a@b.invalid",
    "Info@b.com",
    "POSTMASTER@b.com",
    "info.x@b.com",
    "!#$%&'*+/=?^_`{|}~-@b.com",
    "a.b.c.d@b.com",
    "a..b@b.com",
    ".a@b.com",
    "a.@b.com",
    '"a"@b.com',
    '"a b"@b.com',
    "a@b..com",
    "a@.b.com",
    "a@b.com.",
    "a@b_c.com",
    "a@[1.2.3.4]",
    "a@@b.com",
    "a b@c.com",
    "a\n@b.com",
    "a@b.com\n",
    "ä@b.com",
    "a@ä.com",
    "a" * 64 + "@b.com",
    "a" * 65 + "@b.com",
    "a@" + "b" * 63 + ".com",
    "a@" + "b" * 64 + ".com",
    "a@b." + "c" * 63,
    "a@b." + "c" * 64,
    "a" * 64 + "@" + domain_of_length(189),
    "a" * 64 + "@" + domain_of_length(190),
    "a@" + domain_of_length(253),
    "a@" + domain_of_length(254),
]


def random_local(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.05:
        return rng.choice(["info", "Postmaster", "SALES", "www", "noc", "abuse"])
    pool = string.ascii_letters + string.digits
    if kind < 0.3:
        pool += "!#$%&'*+/=?^_`{|}~-"
    elif kind < 0.4:
        pool += ' "(),:;<>[\\]@é\x00'
    size = rng.choice([1, 3, 8, 8, 12, 20, 63, 64, 65])
    text = "".join(rng.choice(pool) for _ in range(size))
    for _ in range(rng.choice([0, 0, 0, 1, 2])):  # dots, sometimes misplaced
        at = rng.randint(0, len(text))
        text = text[:at] + "." + text[at:]
    return text


def random_label(rng: random.Random) -> str:
    size = rng.choice([1, 2, 5, 5, 8, 10, 62, 63, 64])
    pool = string.ascii_letters + string.digits + "-" * 3
    if rng.random() < 0.05:
        pool += "_é "
    label = "".join(rng.choice(pool) for _ in range(size))
    if rng.random() < 0.05:
        label = "xn--" + label
    elif rng.random() < 0.6:
        label = label.strip("-") or "a"
    return label


def random_domain(rng: random.Random) -> str:
    labels = [random_label(rng) for _ in range(rng.choice([0, 1, 1, 1, 2, 3, 4]))]
    top = rng.choice(
        [
            *("com", "com", "com", "COM", "de", "org", "co", "c", "c1", "1c", "x-y", "test"),
            *("local", "localhost", "onion", "arpa", "invalid", "xn--p1ai", random_label(rng)),
        ]
    )
    domain = ".".join([*labels, top])
    if rng.random() < 0.03:
        domain = rng.choice([".", "-"]) + domain
    if rng.random() < 0.03:
        domain += rng.choice([".", "-"])
    return domain


def generated_addresses(count: int) -> list[str]:
    rng = random.Random(5321)
    return [f"{random_local(rng)}@{random_domain(rng)}" for _ in range(count)]


def is_plain_candidate(text: str) -> bool:
    """ASCII, unquoted and without Punycode-like labels: the fast path must take it if valid."""
    return text.isascii() and '"' not in text and "--" not in text.rpartition("@")[2]


def test_fast_path_agrees_with_email_validator() -> None:
    fast_hits = slow_only_valid = refused = 0
    for text in EDGE_CASES + generated_addresses(8_000):
        fast = _parse_plain(text)
        full = _parse_full(text)
        if fast is not None:
            assert fast == full, text
            fast_hits += 1
        elif isinstance(full, str):
            refused += 1
        else:
            assert not is_plain_candidate(text), f"fast path missed {text!r}"
            slow_only_valid += 1
    # Every branch was exercised, so the agreement above means something.
    assert fast_hits > 1_200
    assert refused > 2_000
    assert slow_only_valid > 100


def test_typical_addresses_take_the_fast_path() -> None:
    for text in ["john.smith@gmail.com", "J.Doe+news@Example.CO.UK", "x_y-z@sub.mail.example.org"]:
        assert _parse_plain(text) is not None


# --- flags --------------------------------------------------------------------------------


def test_free_provider_flag() -> None:
    assert parsed("john@GMail.com").free
    assert not parsed("john@example.com").free


def test_disposable_flag_includes_subdomains() -> None:
    assert parsed("john@mailinator.com").disposable
    assert parsed("john@inbox.Mailinator.com").disposable
    assert not parsed("john@gmail.com").disposable


@pytest.mark.parametrize(
    "text", ["info@x.com", "Admin@x.com", "no-reply@x.com", "no_reply@x.com", "noreply+tag@x.com"]
)
def test_role_flag(text: str) -> None:
    assert parsed(text).role


def test_person_is_not_a_role() -> None:
    assert not parsed("john.smith@x.com").role


# --- typo suggestions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("gmial.com", "gmail.com"),
        ("gmal.com", "gmail.com"),
        ("gmaill.com", "gmail.com"),
        ("gnail.com", "gmail.com"),
        ("gmail.con", "gmail.com"),
        ("gmail.cmo", "gmail.com"),
        ("gmail.cm", "gmail.com"),
        ("gmail.co", "gmail.com"),
        ("gmail.om", "gmail.com"),
        ("GMIAL.COM", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("hotmail.co", "hotmail.com"),
        ("yahooo.com", "yahoo.com"),
        ("yaho.com", "yahoo.com"),
        ("yahoo.cm", "yahoo.com"),
        ("outlok.com", "outlook.com"),
        ("iclod.com", "icloud.com"),
        ("aol.con", "aol.com"),
        ("msn.cmo", "msn.com"),
        ("gmx.dee", "gmx.de"),
        ("web.ed", "web.de"),
        ("yandex.ry", "yandex.ru"),
        ("mail.ur", "mail.ru"),
        ("protonmial.com", "protonmail.com"),
        ("proton.mee", "proton.me"),
        ("comcats.net", "comcast.net"),
        ("yahoo.co.u", "yahoo.co.uk"),
        ("gmailcom", "gmail.com"),
        ("outlooook.com", "outlook.com"),  # two slips in a long name
        ("protnmial.com", "protonmail.com"),
    ],
)
def test_typo_is_suggested(typo: str, meant: str) -> None:
    assert suggest_domain(typo) == meant


@pytest.mark.parametrize(
    "domain",
    [
        "example.com",
        "acme-widgets.de",
        "gmail.com",
        "googlemail.com",
        "ymail.com",  # one slip from gmail.com, but a provider of its own
        "email.com",
        "mail.com",
        "gmx.at",
        "yahoo.co.uk",
        "hotmail.de",
        "cloud.com",  # one slip from icloud.com, but a real business
        "aok.com",  # one slip from aol.com: short names are only corrected after the dot
        "msm.com",
        "web.dk",  # another country, not a typo
        "gmx.fr",
        "horizon.net",  # two slips from verizon.net, but not even the first letter matches
        "gmial.con",  # two slips in a short name
        "gm.com",
        "",
        "a" * 5_000 + ".com",
    ],
)
def test_no_suggestion(domain: str) -> None:
    assert suggest_domain(domain) == ""


def test_no_provider_is_taken_for_a_typo() -> None:
    assert set(TYPO_TARGETS) <= FREE_PROVIDERS
    assert [domain for domain in sorted(FREE_PROVIDERS) if suggest_domain(domain)] == []


def test_did_you_mean_is_the_whole_corrected_address() -> None:
    result = parsed("John.Smith@GMIAL.com")
    assert result.did_you_mean == "John.Smith@gmail.com"
    assert result.normalized == "John.Smith@gmial.com"
    assert parsed("john@gmail.com").did_you_mean == ""


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("john@gmail,com", "john@gmail.com"),
        ("john@@gmail.com", "john@gmail.com"),
        ("john@gmail.com.", "john@gmail.com"),
        ("john@gmail..com", "john@gmail.com"),
        ("john @ gmail.com", "john@gmail.com"),
        ("john@gmail. com", "john@gmail.com"),
        ("john@gmailcom", "john@gmail.com"),
        ("john@gmial,com", "john@gmail.com"),
        ("John Smith <John@Example.com>", "John@example.com"),
        ("<john@example.com>", "john@example.com"),
        ("mailto:john@example.com", "john@example.com"),
    ],
)
def test_syntax_problem_with_an_obvious_fix_suggests_it(text: str, meant: str) -> None:
    assert problem(text).did_you_mean == meant


@pytest.mark.parametrize(
    "text",
    ["john smith@gmail.com", "john.gmail.com", "john@", "@gmail.com", "a@b@gmail.com", "a@b"],
)
def test_syntax_problem_without_an_obvious_fix_suggests_nothing(text: str) -> None:
    assert problem(text).did_you_mean == ""
