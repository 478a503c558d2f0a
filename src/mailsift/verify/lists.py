"""Reference lists an address is checked against: free-mail, disposable and role accounts.

The lists are read once, at import. Domains are expected in their ASCII (IDNA) form.
"""

from __future__ import annotations

from importlib import resources

from disposable_email_domains import blocklist

# Role names of this length or more also match with separators added or removed; shorter ones
# ("hr", "it") only match exactly, so initials such as "h.r" are not taken for a team.
_LOOSE_ROLE_MIN = 3


def read_list(name: str) -> frozenset[str]:
    """The entries of ``data/<name>``: one per line, lower-cased, ``#`` comments dropped."""
    text = (resources.files("mailsift.verify") / "data" / name).read_text(encoding="utf-8")
    entries = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(entry for entry in entries if entry)


def _loose(name: str) -> str:
    """``name`` without "-", "_" and "." (str.replace beats str.translate on short names)."""
    return name.replace("-", "").replace("_", "").replace(".", "")


FREE_PROVIDERS = read_list("free_providers.txt")
COUNTRY_TLDS = read_list("country_tlds.txt")
DISPOSABLE_DOMAINS = frozenset(str(domain).lower() for domain in blocklist)
ROLE_NAMES = read_list("role_accounts.txt")
_LOOSE_ROLE_NAMES = frozenset(
    _loose(name) for name in ROLE_NAMES if len(_loose(name)) >= _LOOSE_ROLE_MIN
)


def _clean(domain: str) -> str:
    return domain.strip().lower().rstrip(".")


def is_free(domain: str) -> bool:
    """True when ``domain`` belongs to a free-mail provider (gmail.com, yahoo.com, ...)."""
    return _clean(domain) in FREE_PROVIDERS


def is_disposable(domain: str) -> bool:
    """True when ``domain``, or a domain it is a subdomain of, is a throwaway provider."""
    name = _clean(domain)
    while "." in name:  # a bare top-level domain is never listed
        if name in DISPOSABLE_DOMAINS:
            return True
        name = name[name.index(".") + 1 :]
    return False


def is_role(local_part: str) -> bool:
    """True when ``local_part`` names a function or team (admin, info, no-reply, ...)."""
    name = local_part.lower()
    if "+" in name:
        name = name[: name.index("+")]
    if name in ROLE_NAMES:
        return True
    loose = _loose(name)
    return len(loose) >= _LOOSE_ROLE_MIN and loose in _LOOSE_ROLE_NAMES
