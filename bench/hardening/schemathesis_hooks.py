"""schemathesis hooks (``SCHEMATHESIS_HOOKS=bench.hardening.schemathesis_hooks``).

Every generated body carries the valid token of ``HARDENING_TOKEN``, so that the calls get past
authentication to the code behind it; and no answer may ever contain that token.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

TOKEN_FIELD = "user_API_token"
TOKEN = os.environ.get("HARDENING_TOKEN", "")


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    """A drawn token becomes the real one; a missing, blank or non-text one (a case meant to be
    refused) stays as drawn."""
    if isinstance(body, dict) and TOKEN:
        drawn = body.get(TOKEN_FIELD)
        if isinstance(drawn, str) and drawn.strip():
            body[TOKEN_FIELD] = TOKEN
    return body


@schemathesis.check
def token_never_echoed(ctx: Any, response: Any, case: Any) -> bool | None:
    if TOKEN and TOKEN in response.text:
        raise AssertionError("the API token appears in the answer")
    for value in response.headers.values():
        if TOKEN and TOKEN in str(value):
            raise AssertionError("the API token appears in a response header")
    return None
