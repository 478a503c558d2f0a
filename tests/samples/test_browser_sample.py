"""The browser sample (docs/samples/javascript) in Chromium, driven by Playwright.

The page is served from an origin of its own and calls the API across origins, which the
server allows through ``MAILSIFT_CORS_ORIGINS`` (``cors_origins``) for that origin only.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.samples.conftest import FAILED_JOB_MESSAGE, LiveApi
from tests.samples.test_samples import REALTIME_ADDRESS, bad_token_message, check_downloads
from tests.samples.toolchains import missing_or_skip

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser(live_api: LiveApi, failing_api: LiveApi, closed_api: LiveApi) -> Iterator[Any]:
    """Chromium; the servers start first, as Playwright's loop then runs in this thread."""
    missing = [] if Path(CHROMIUM).exists() or shutil.which("chromium") else ["chromium"]
    if importlib.util.find_spec("playwright") is None:
        missing.append("Playwright for Python")
    missing_or_skip("javascript", missing, also_required_by="MAILSIFT_REQUIRE_BROWSER")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium") or CHROMIUM)
        yield browser
        browser.close()


def run_page(browser: Any, api: LiveApi, sample_list: Path, token: str, page_url: str = "") -> Any:
    """Fill the sample's form, submit it, and wait until it is done or failed."""
    page = browser.new_page(accept_downloads=True)
    page.goto(f"{page_url or api.page_url}/index.html")
    page.fill("#url", api.harness.url)
    page.fill("#token", token)
    page.set_input_files("#file", str(sample_list))
    page.fill("#email", REALTIME_ADDRESS)
    page.fill("#poll", "1")
    page.click("#run")
    page.wait_for_selector("body[data-state=done], body[data-state=failed]", timeout=120_000)
    return page


def test_browser_sample_does_the_whole_integration(
    browser: Any,
    live_api: LiveApi,
    sample_list: Path,
    expected: dict[str, tuple[str, str]],
    tmp_path: Path,
) -> None:
    page = run_page(browser, live_api, sample_list, live_api.token)
    log = page.text_content("#log").splitlines()
    assert page.get_attribute("body", "data-state") == "done", page.text_content("#error")
    assert "Completed 100.00%" in log
    assert f"{REALTIME_ADDRESS}: valid (accepted_email)" in log
    for name in ("valid", "invalid", "unknown"):
        with page.expect_download() as download:
            page.click(f"#download-{name}")
        assert download.value.suggested_filename == f"{name}.csv"
        download.value.save_as(tmp_path / f"{name}.csv")
    check_downloads(tmp_path, expected)
    page.close()


def test_browser_sample_shows_a_bad_token(
    browser: Any, live_api: LiveApi, sample_list: Path
) -> None:
    page = run_page(browser, live_api, sample_list, "nope")
    assert page.get_attribute("body", "data-state") == "failed"
    assert page.text_content("#error") == f"mailsift: {bad_token_message(live_api)}"
    assert page.query_selector("#download-valid") is None
    page.close()


def test_browser_sample_shows_a_failed_job(
    browser: Any, failing_api: LiveApi, sample_list: Path
) -> None:
    page = run_page(browser, failing_api, sample_list, failing_api.token)
    assert page.get_attribute("body", "data-state") == "failed"
    assert page.text_content("#error") == f"mailsift: {FAILED_JOB_MESSAGE}"
    page.close()


def test_browser_sample_cannot_read_a_server_that_allows_no_origin(
    browser: Any, live_api: LiveApi, closed_api: LiveApi, sample_list: Path
) -> None:
    page = run_page(browser, closed_api, sample_list, closed_api.token, live_api.page_url)
    assert page.get_attribute("body", "data-state") == "failed"
    assert page.text_content("#error") == (
        f"mailsift: cannot reach {closed_api.harness.url}"
        " (is this page's origin in MAILSIFT_CORS_ORIGINS?)"
    )
    page.close()
    # A multipart POST needs no preflight: the browser sent the upload, and only hid the answer.
    with ThreadPoolExecutor(1) as thread:  # the harness runs a loop of its own
        jobs = thread.submit(closed_api.harness.jobs).result()
    assert len(jobs) == 1
