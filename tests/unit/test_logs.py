"""Log lines: JSON with the bound job and chunk, and no secret in any format."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from mailsift.logs import REDACTED, redact

TOKEN = "ms_" + "A1b2C3d4" * 5


@pytest.mark.parametrize(
    "text",
    [
        f"authenticating {TOKEN}",
        f"body user_API_token={TOKEN}&email=a@b.test",
        f'{{"user_API_token": "{TOKEN}", "email": "a@b.test"}}',
        "signing with whsec_c2VjcmV0c2VjcmV0c2VjcmV0",
        "login password=hunter2hunter2 ok",
    ],
)
def test_secrets_are_scrubbed(text: str) -> None:
    scrubbed = redact(text)
    assert REDACTED in scrubbed
    for secret in (TOKEN, "whsec_c2VjcmV0", "hunter2"):
        assert secret not in scrubbed


def test_plain_text_is_left_alone() -> None:
    assert redact("job 12 chunk 3: 200 addresses") == "job 12 chunk 3: 200 addresses"


def run_logging(log_format: str) -> list[str]:
    script = textwrap.dedent(
        f"""
        import asyncio, logging
        from mailsift.logs import bound, configure_logging
        configure_logging({log_format!r}, "INFO")
        log = logging.getLogger("mailsift.jobs.runner")

        async def chunk():
            with bound(job_id=7, chunk=2):
                await asyncio.sleep(0)
                log.info("verified %d addresses for %s", 3, {TOKEN!r})
                try:
                    raise ValueError("bad body user_API_token={TOKEN}")
                except ValueError:
                    log.exception("chunk failed")
            log.warning("outside any job")

        asyncio.run(chunk())
        logging.getLogger("uvicorn.error").info("uvicorn says hello")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert TOKEN not in done.stderr
    return done.stderr.strip().splitlines()


def test_json_lines_carry_the_job_and_chunk() -> None:
    lines = [json.loads(line) for line in run_logging("json")]
    first, failure, outside, uvicorn = lines
    assert first["message"] == f"verified 3 addresses for {REDACTED}"
    assert (first["job_id"], first["chunk"]) == (7, 2)
    assert first["level"] == "info"
    assert first["logger"] == "mailsift.jobs.runner"
    assert "ValueError" in failure["traceback"]
    assert REDACTED in failure["traceback"]
    assert "job_id" not in outside
    assert uvicorn["logger"] == "uvicorn.error"


def test_text_lines_are_scrubbed_too() -> None:
    lines = run_logging("text")
    assert any("verified 3 addresses for [redacted]" in line for line in lines)
    assert any(line.startswith("ValueError: bad body user_API_token=[redacted]") for line in lines)
