"""Signing callbacks the Standard Webhooks way (https://www.standardwebhooks.com/).

Three headers go with every delivery: ``webhook-id`` (the same on every retry of one
callback, so receivers can drop duplicates), ``webhook-timestamp`` (seconds since the epoch)
and ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``id.timestamp.body``, keyed
by the account's secret (``whsec_`` and the base64 of the key's bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_…`` secret."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, webhook_id, timestamp, body),
    }
