"""Free-mail, disposable and role lists, and the data files behind them."""

from __future__ import annotations

from importlib import resources

import pytest

from mailsift.verify.address import ParsedAddress, parse_address
from mailsift.verify.lists import (
    COUNTRY_TLDS,
    DISPOSABLE_DOMAINS,
    FREE_PROVIDERS,
    ROLE_NAMES,
    is_disposable,
    is_free,
    is_role,
)

DATA_FILES = ["free_providers.txt", "role_accounts.txt", "country_tlds.txt"]


def data_text(name: str) -> str:
    return (resources.files("mailsift.verify") / "data" / name).read_text(encoding="utf-8")


# --- free-mail --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain", ["gmail.com", "GMail.COM", "yahoo.co.uk", "gmx.de", "proton.me", "gmail.com."]
)
def test_free_providers(domain: str) -> None:
    assert is_free(domain)


@pytest.mark.parametrize("domain", ["example.com", "mail.gmail.com", "gmail.co", "", "com"])
def test_not_free_providers(domain: str) -> None:
    assert not is_free(domain)


# --- disposable -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain",
    ["mailinator.com", "MAILINATOR.COM", "x.mailinator.com", "a.b.mailinator.com", "yopmail.com"],
)
def test_disposable_domains_and_their_subdomains(domain: str) -> None:
    assert is_disposable(domain)


@pytest.mark.parametrize(
    "domain", ["gmail.com", "xmailinator.com", "mailinator.com.example.org", "com", ""]
)
def test_not_disposable(domain: str) -> None:
    assert not is_disposable(domain)


def test_disposable_list_comes_from_the_package() -> None:
    assert len(DISPOSABLE_DOMAINS) > 1_000


def test_no_free_provider_is_listed_as_disposable() -> None:
    assert FREE_PROVIDERS.isdisjoint(DISPOSABLE_DOMAINS)
    assert not [domain for domain in FREE_PROVIDERS if is_disposable(domain)]


# --- role accounts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "local",
    [
        "admin",
        "ADMIN",
        "info",
        "info+newsletter",
        "postmaster",
        "noreply",
        "no-reply",
        "no_reply",
        "no.reply",
        "No-Reply+bounce",
        "do-not-reply",
        "customer.service",
        "hr",
        "it",
        "mailer-daemon",
        "mailerdaemon",
    ],
)
def test_role_accounts(local: str) -> None:
    assert is_role(local)


@pytest.mark.parametrize(
    "local", ["john", "john.smith", "informant", "h.r", "i-t", "admin2", "+admin", ""]
)
def test_not_role_accounts(local: str) -> None:
    assert not is_role(local)


# --- data files -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", DATA_FILES)
def test_data_file_names_its_source_and_date(name: str) -> None:
    header = data_text(name).splitlines()[:4]
    assert header[0].startswith("# ")
    assert any("Source:" in line and "2026-11" in line for line in header)


def test_list_sizes() -> None:
    assert 300 <= len(FREE_PROVIDERS) <= 1_000
    assert 90 <= len(ROLE_NAMES) <= 200
    assert 240 <= len(COUNTRY_TLDS) <= 260


def test_free_providers_are_valid_normalised_domains() -> None:
    for domain in FREE_PROVIDERS:
        result = parse_address(f"someone@{domain}")
        assert isinstance(result, ParsedAddress), domain
        assert result.domain == domain
        assert result.free


def test_role_names_are_valid_local_parts() -> None:
    for name in ROLE_NAMES:
        assert isinstance(parse_address(f"{name}@example.com"), ParsedAddress), name


def test_country_tlds_are_two_letters() -> None:
    assert all(len(tld) == 2 and tld.isalpha() for tld in COUNTRY_TLDS)
    assert {"de", "uk", "co", "cm"} <= COUNTRY_TLDS
    assert "com" not in COUNTRY_TLDS
