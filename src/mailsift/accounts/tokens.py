"""API tokens: 256 random bits, shown once, kept only as a SHA-256 digest.

A token is looked up by its digest (a unique index), then the digest is compared again in
constant time. A fast hash is enough here: the token is random, not a password, so there is
nothing to guess from its digest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "ms_"
_HINT_CHARS = 8


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_hint(token: str) -> str:
    """The first characters, enough for an operator to tell tokens apart."""
    return token[:_HINT_CHARS]


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def new_webhook_secret() -> str:
    """A callback signing secret: ``whsec_`` and 192 random bits in base64 (Standard Webhooks)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")
