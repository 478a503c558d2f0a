"""The verification snippets of docs/api.md, run against a real delivery: they accept it,
and refuse it tampered with, re-signed with another secret, or replayed late."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mailsift.accounts.service import get_account
from mailsift.store import Store
from tests.api.conftest import Harness
from tests.api.test_batch import upload
from tests.api.webhook_receiver import Received, running_receiver

API_DOC = Path(__file__).parents[2] / "docs" / "api.md"
Verifier = Callable[[str, dict[str, str], bytes], bool]


def snippet(language: str, marker: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", API_DOC.read_text(encoding="utf-8"), re.S)
    [code] = [block for block in blocks if marker in block]
    # The blocks sit in a list item: their lines are indented alike.
    indent = min(len(line) - len(line.lstrip()) for line in code.splitlines() if line.strip())
    return "\n".join(line[indent:] for line in code.splitlines()) + "\n"


@pytest.fixture
def delivery(server: Harness) -> tuple[str, Received]:
    token = server.account()

    async def read(store: Store) -> str:
        return (await get_account(store, "acme")).webhook_secret

    secret = server.run(read)
    with running_receiver() as receiver:
        upload(server.client(), token, ("l.csv", b"email\nnope\n"), callback_url=receiver.url)
        [received] = receiver.wait_for(1)
    headers = {name.lower(): value for name, value in received.headers.items()}
    return secret, Received(received.path, headers, received.body, received.at)


def python_verifier() -> Verifier:
    namespace: dict[str, object] = {}
    exec(snippet("python", "def verify_webhook"), namespace)  # our own docs
    verify = namespace["verify_webhook"]
    assert callable(verify)
    return lambda secret, headers, body: bool(verify(secret, headers, body))


def node_verifier(tmp_path: Path) -> Verifier:
    node = shutil.which("node")
    if node is None:
        message = "node is not installed: the Node.js snippet of docs/api.md is not run"
        if os.environ.get("MAILSIFT_REQUIRE_SAMPLES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    script = tmp_path / "verify.js"
    script.write_text(
        snippet("js", "function verifyWebhook")
        + "const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));\n"
        + "const body = Buffer.from(input.body, 'base64');\n"
        + "process.stdout.write(String(verifyWebhook(input.secret, input.headers, body)));\n",
        encoding="utf-8",
    )

    def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
        given = {"secret": secret, "headers": headers, "body": base64.b64encode(body).decode()}
        done = subprocess.run(
            [node, str(script)],
            input=json.dumps(given),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return {"true": True, "false": False}[done.stdout]

    return verify


@pytest.mark.parametrize("language", ["python", "node"])
def test_the_documented_verifiers_accept_a_delivery_and_nothing_else(
    language: str, delivery: tuple[str, Received], tmp_path: Path
) -> None:
    verify = python_verifier() if language == "python" else node_verifier(tmp_path)
    secret, received = delivery
    headers, body = received.headers, received.body
    assert verify(secret, headers, body)
    assert not verify(secret, headers, body.replace(b"Completed", b"Completes"))
    other = "whsec_" + base64.b64encode(b"x" * 24).decode()
    assert not verify(other, headers, body)
    late = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    assert not verify(secret, late, body)
    assert not verify(secret, {**headers, "webhook-id": "msg_other"}, body)
