"""Result links: absolute, signed (HMAC-SHA256), expiring, and useless without the server key.

A link names the job, the file and its expiry time; the signature covers all three, so
changing any of them (or guessing a link from a job id) gives a link that does not work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote

from mailsift.jobs.results import FILES, Which


class LinkError(Exception):
    pass


class LinkInvalid(LinkError):
    pass


class LinkExpired(LinkError):
    pass


class LinkSigner:
    def __init__(self, secret: bytes, ttl: float) -> None:
        # A key of its own, so the server secret can sign other things without collisions.
        self._key = hmac.new(secret, b"mailsift result links", hashlib.sha256).digest()
        self._ttl = ttl

    def link(self, base_url: str, public_id: str, which: Which, *, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + self._ttl)
        signature = self.signature(public_id, which, expires)
        path = f"/download/{quote(public_id, safe='')}/{which}.csv"
        return f"{base_url}{path}?expires={expires}&signature={signature}"

    def signature(self, public_id: str, which: str, expires: int) -> str:
        message = f"{public_id}\n{which}\n{expires}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def check(
        self,
        public_id: str,
        which: str,
        expires: str,
        signature: str,
        *,
        now: float | None = None,
    ) -> Which:
        """The file a link names, or ``LinkInvalid`` / ``LinkExpired``."""
        if which not in FILES or not expires.isdigit() or len(expires) > 12:
            raise LinkInvalid("This download link is not valid.")
        expected = self.signature(public_id, which, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise LinkInvalid("This download link is not valid.")
        if int(expires) < (time.time() if now is None else now):
            raise LinkExpired("This download link has expired: ask /get_results/ for a new one.")
        return which
